"""Two clips of the speech-transcripts example and `broken.wav`: a RIFF header with nothing after it."""

import shutil
from pathlib import Path

EXAMPLE = Path(__file__).parents[4] / "examples" / "speech-transcripts" / "data" / "audio"


def make(folder: Path) -> None:
    (folder / "audio").mkdir(exist_ok=True)
    for name in ("clip_00.wav", "clip_01.wav"):
        shutil.copy(EXAMPLE / name, folder / "audio" / name)
    (folder / "audio" / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVE")
