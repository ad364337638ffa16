"""A UTF-8 CSV of 1,000 rows where row 500 says caf\xe9 in latin-1."""
def make(folder):
    rows = [f"comment {i},x".encode() for i in range(1000)]
    rows[499] = b"caf\xe9 au lait,x"
    (folder / "data.csv").write_bytes(b"text,label\n" + b"\n".join(rows) + b"\n")
