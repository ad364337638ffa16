"""1,000 rows in cp1252, each with an accented word and a curly quote."""
def make(folder):
    rows = [f"caf\u00e9 \u201cnumber\u201d {i},x" for i in range(1000)]
    (folder / "data.csv").write_bytes(("text,label\n" + "\n".join(rows) + "\n").encode("cp1252"))
