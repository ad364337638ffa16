def make(folder):
    (folder / "data.jsonl").write_text('{"text": "fine"}\n{"text": "deep", "a": ' + "[" * 5000 + "]" * 5000 + "}\n")
