"""Two clips of the speech-transcripts example; `gold.jsonl` (UTF-8, one clip) and `gold-cp1252.jsonl`, whose second
line is Windows-1252, not UTF-8."""

import shutil
from pathlib import Path

EXAMPLE = Path(__file__).parents[4] / "examples" / "speech-transcripts" / "data" / "audio"
FIRST = '{"file": "clip_00.wav", "answer": {"text": "The cat sat on the mat."}}\n'


def make(folder: Path) -> None:
    (folder / "audio").mkdir(exist_ok=True)
    for name in ("clip_00.wav", "clip_01.wav"):
        shutil.copy(EXAMPLE / name, folder / "audio" / name)
    (folder / "gold.jsonl").write_text(FIRST, encoding="utf-8")
    (folder / "gold-cp1252.jsonl").write_bytes(
        FIRST.encode() + '{"file": "clip_01.wav", "answer": {"text": "Please open the caf\u00e9 window."}}\n'.encode("cp1252"))
