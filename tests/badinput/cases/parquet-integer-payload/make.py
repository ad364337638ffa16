import pyarrow as pa
import pyarrow.parquet as pq


def make(folder):
    pq.write_table(pa.table({"text": pa.array([1, 2, 3], pa.int64())}), folder / "data.parquet")
