import pyarrow as pa
import pyarrow.parquet as pq


def make(folder):
    pq.write_table(pa.table({"text": pa.array([b"caf\xc3\xa9", b"plain", b"bad \xff"], pa.binary())}), folder / "data.parquet")
