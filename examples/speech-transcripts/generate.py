"""Build the speech-transcripts sample project: short English sentences spoken by a speech synthesiser.

    python examples/speech-transcripts/generate.py      (needs `espeak-ng`: apt-get install espeak-ng)

Run ONCE by hand; the clips are committed and nothing calls espeak-ng at run or test time. Writes:
    data/audio/clip_NN.wav   one clip per sentence below, 16 kHz mono 16-bit PCM
    truth/labels.jsonl       {"file", "answer": {"text"}} for every clip (evaluation only: what was synthesised)
    gold/gold.jsonl          the same for every fourth clip, the hidden gold items

Each sentence is spoken by one of five espeak-ng voices at one of four speeds (a fixed rotation), brought
from espeak's 22.05 kHz to 16 kHz by a polyphase filter, trimmed to 0.15 s of silence either side (to keep
the repository small) and scaled to a peak of 0.7 of full scale. The sentences were written for this
example and are dedicated to the public domain. espeak-ng's output depends on its version (1.51 here), so a
rebuild elsewhere may differ by a few samples; the committed files are the reference.
"""

from __future__ import annotations

import io
import json
import subprocess
import wave
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

HERE = Path(__file__).resolve().parent
RATE = 16_000
VOICES = ("en-us", "en", "en-us+f2", "en-us+m3", "en-gb-x-rp")
SPEEDS = (150, 165, 175, 160)
GOLD_EVERY = 4
SENTENCES = (
    "The cat sat on the mat.",
    "Please open the window.",
    "We walked to the market.",
    "She reads a book every night.",
    "The bus is late again.",
    "Turn left at the bridge.",
    "My brother likes green apples.",
    "It is cold outside today.",
    "Close the door behind you.",
    "The dog ran across the field.",
    "I have three red pens.",
    "Water the plants in the morning.",
    "The train leaves at nine.",
    "Put the cups on the table.",
    "He plays the piano well.",
    "The sun is very bright.",
    "Call me after lunch.",
    "Birds sing in the trees.",
    "Wash your hands before dinner.",
    "The shop opens at ten.",
    "Bring a coat and a hat.",
    "The river is deep here.",
    "She drinks tea with milk.",
    "Our car needs new tires.",
    "The baby is sleeping now.",
    "Read the first page aloud.",
    "Snow fell during the night.",
    "The light in the hall is off.",
    "We need more bread and eggs.",
    "Send the letter today.",
    "The kitchen smells of fresh bread.",
    "Take two steps forward.",
    "The phone is on the desk.",
    "My sister paints small boats.",
    "Keep the music down please.",
    "The garden gate is open.",
    "He found his keys at last.",
    "Fish swim in the cold lake.",
    "The room has four windows.",
    "Thank you for the kind words.",
)


def speak(text: str, voice: str, speed: int) -> np.ndarray:
    """espeak-ng's rendering of `text` as float samples at 16 kHz, trimmed and scaled."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(wav)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768.0
    g = np.gcd(RATE, rate)
    x = resample_poly(x, RATE // g, rate // g)
    loud = np.flatnonzero(np.abs(x) > 0.01)
    pad = int(0.15 * RATE)
    x = x[max(loud[0] - pad, 0) : loud[-1] + pad]
    return 0.7 * x / np.abs(x).max()


def write_wav(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.clip(np.round(x * 32767), -32768, 32767).astype("<i2").tobytes())


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    rows = []
    for k, text in enumerate(SENTENCES):
        name = f"clip_{k:02d}.wav"
        write_wav(HERE / "data" / "audio" / name, speak(text, VOICES[k % len(VOICES)], SPEEDS[k % len(SPEEDS)]))
        rows.append({"file": name, "answer": {"text": text}})
    write_jsonl(HERE / "truth" / "labels.jsonl", rows)
    write_jsonl(HERE / "gold" / "gold.jsonl", rows[::GOLD_EVERY])


if __name__ == "__main__":
    main()
