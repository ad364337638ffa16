import gzip


def make(folder):
    rows = "".join(f'{{"text": "zipped row {i}"}}\n' for i in range(2000)).encode()
    blob = gzip.compress(rows)
    (folder / "data.jsonl.gz").write_bytes(blob[: len(blob) // 2])
