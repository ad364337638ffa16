def make(folder):
    rows = [f'{{"text": "row {i}"}}' for i in range(10)]
    rows.insert(3, '{"text": "' + "x" * 5_000_000 + '"}')
    (folder / "data.jsonl").write_text("\n".join(rows) + "\n")
