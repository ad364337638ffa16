"""Ten good rows around one row whose metadata nests 100,000 arrays deep."""
def make(folder):
    good = [f'{{"text": "row {i}"}}' for i in range(10)]
    deep = '{"text": "deep", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (folder / "data.jsonl").write_text("\n".join(good[:5] + [deep] + good[5:]) + "\n")
