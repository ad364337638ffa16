"""Build the tones-audio sample project: short synthetic sounds in four classes.

    python examples/tones-audio/generate.py

Writes (relative to this folder), byte-for-byte reproducibly:
    data/audio/clip_NNN.wav   40 clips (10 per class, shuffled), 0.5 s, 8 kHz, 16-bit mono PCM
    truth/labels.csv          file,label for every clip (evaluation only)
    gold/gold.csv             file,label for 12 of them (3 per class), the hidden gold items

Classes (every clip also gets a little white noise, a random level and 10 ms fades):
    low_tone    a steady sine between 150 and 400 Hz (with a weaker 2nd harmonic)
    high_tone   a steady sine between 1200 and 3000 Hz
    chirp       a sine sweeping up or down across at least two octaves within 200-3500 Hz
    noise       white or low-passed noise, no pitch

Needs only numpy and the standard library.
"""

from __future__ import annotations

import csv
import shutil
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RATE = 8_000
SECONDS = 0.5
PER_CLASS = 10
GOLD_PER_CLASS = 3
LABELS = ["low_tone", "high_tone", "chirp", "noise"]
SEED = 440


def synth(label: str, rng: np.random.Generator) -> np.ndarray:
    n = int(RATE * SECONDS)
    t = np.arange(n) / RATE
    phase = rng.uniform(0, 2 * np.pi)
    if label == "low_tone":
        f = rng.uniform(150, 400)
        x = np.sin(2 * np.pi * f * t + phase) + rng.uniform(0.1, 0.3) * np.sin(4 * np.pi * f * t)
    elif label == "high_tone":
        f = rng.uniform(1200, 3000)
        x = np.sin(2 * np.pi * f * t + phase)
    elif label == "chirp":
        lo, hi = rng.uniform(200, 500), rng.uniform(2000, 3500)
        f0, f1 = (lo, hi) if rng.random() < 0.5 else (hi, lo)
        # exponential sweep: instantaneous frequency f0 * (f1/f0) ** (t / T)
        k = np.log(f1 / f0) / SECONDS
        x = np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k + phase)
    elif label == "noise":
        x = rng.standard_normal(n)
        if rng.random() < 0.5:  # some clips are "rumble": a moving average takes the highs off
            x = np.convolve(x, np.ones(8) / 8, mode="same")
        x /= np.abs(x).max()
    else:
        raise ValueError(label)
    x = x / np.abs(x).max()
    x = x + rng.uniform(0.01, 0.05) * rng.standard_normal(n)  # a little background hiss
    fade = int(0.01 * RATE)
    ramp = np.linspace(0, 1, fade)
    x[:fade] *= ramp
    x[-fade:] *= ramp[::-1]
    return rng.uniform(0.3, 0.8) * x / np.abs(x).max()


def write_wav(path: Path, x: np.ndarray) -> None:
    pcm = np.clip(np.rint(x * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["file", "label"])
        w.writerows(rows)


def main() -> None:
    rng = np.random.default_rng(SEED)
    labels = [lab for lab in LABELS for _ in range(PER_CLASS)]
    rng.shuffle(labels)  # file names say nothing about the class

    out = HERE / "data" / "audio"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    truth = []
    for i, label in enumerate(labels, start=1):
        name = f"clip_{i:03d}.wav"
        write_wav(out / name, synth(label, rng))
        truth.append((name, label))

    write_csv(HERE / "truth" / "labels.csv", truth)
    gold = [row for lab in LABELS for row in [r for r in truth if r[1] == lab][:GOLD_PER_CLASS]]
    rng.shuffle(gold)
    write_csv(HERE / "gold" / "gold.csv", gold)
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {len(truth)} clips ({total / 1024:.0f} KiB), {len(gold)} gold items")


if __name__ == "__main__":
    main()
