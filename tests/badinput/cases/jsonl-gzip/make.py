import gzip


def make(folder):
    rows = "".join(f'{{"text": "zipped row {i}"}}\n' for i in range(10))
    (folder / "data.jsonl.gz").write_bytes(gzip.compress(rows.encode()))
