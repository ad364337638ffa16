import os


def make(folder):
    os.mkfifo(folder / "data.jsonl")
