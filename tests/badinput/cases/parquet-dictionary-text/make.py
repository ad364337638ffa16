import pyarrow as pa
import pyarrow.parquet as pq


def make(folder):
    text = pa.array(["red", "green", "blue", "red"]).dictionary_encode()
    pq.write_table(pa.table({"text": text, "kind": pa.array(["a", "b", "a", "b"]).dictionary_encode()}), folder / "data.parquet")
