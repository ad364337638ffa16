"""100 good rows and one whose text holds the byte 0xff."""
def make(folder):
    good = [f'{{"text": "good row {i}"}}'.encode() for i in range(100)]
    rows = good[:50] + [b'{"text": "bad \xff byte"}'] + good[50:]
    (folder / "data.jsonl").write_bytes(b"\n".join(rows) + b"\n")
