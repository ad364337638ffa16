"""One clip of the speech-segments example, the same samples as an IEEE float WAV (format tag 3) in `float.wav`,
and as A-law (format tag 6, a compressed codec nothing here decodes) in `alaw.wav`."""

import shutil
import struct
import wave
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).parents[4] / "examples" / "speech-segments" / "data" / "audio"


def _riff(path: Path, tag: int, rate: int, bits: int, data: bytes) -> None:
    fmt = struct.pack("<HHIIHH", tag, 1, rate, rate * bits // 8, bits // 8, bits)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def make(folder: Path) -> None:
    (folder / "audio").mkdir(exist_ok=True)
    shutil.copy(EXAMPLE / "clip_00.wav", folder / "audio" / "clip_00.wav")
    with wave.open(str(EXAMPLE / "clip_00.wav")) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    _riff(folder / "audio" / "float.wav", 3, rate, 32, (pcm / 32768).astype("<f4").tobytes())
    _riff(folder / "audio" / "alaw.wav", 6, rate, 8, bytes(len(pcm)))
