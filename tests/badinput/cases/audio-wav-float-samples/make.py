"""One clip of the speech-segments example, and the same samples as an IEEE float WAV (format tag 3) in `float.wav`."""

import shutil
import struct
import wave
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).parents[4] / "examples" / "speech-segments" / "data" / "audio"


def make(folder: Path) -> None:
    (folder / "audio").mkdir(exist_ok=True)
    shutil.copy(EXAMPLE / "clip_00.wav", folder / "audio" / "clip_00.wav")
    with wave.open(str(EXAMPLE / "clip_00.wav")) as w:
        rate = w.getframerate()
        data = (np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32768).astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    (folder / "audio" / "float.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
