import gzip


def make(folder):
    rows = "text,label\n" + "".join(f"zipped row {i},x\n" for i in range(10))
    (folder / "data.csv.gz").write_bytes(gzip.compress(rows.encode()))
