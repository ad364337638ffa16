"""Build the speech-segments sample project: clips with spoken phrases and noise bursts at known times.

    python examples/speech-segments/generate.py      (needs `espeak-ng`, as ../speech-transcripts/generate.py)

Run ONCE by hand; the clips are committed and nothing calls espeak-ng at run or test time. Writes:
    data/audio/clip_NN.wav   16 kHz mono 16-bit PCM, 1.3-3.3 s
    truth/labels.jsonl       {"file", "answer": [{"start_s", "end_s", "label"}]} for every clip (evaluation only)
    gold/gold.jsonl          the same for every fourth clip, the hidden gold items

Each clip is a sequence of parts separated by silences of 0.2-0.45 s: one or two short phrases (spoken by
the synthesiser of ../speech-transcripts, with its voices and speeds) and zero or one burst of noise
(white or low-passed, 0.25-0.5 s, with 10 ms fades). A region's times are where its part starts and ends
in the clip: a phrase is trimmed to where its samples rise above 1% of full scale, so its region is the
sound, not the synthesiser's padding. A faint hiss (0.2% of full scale) lies under the whole clip. Fixed
seed; the phrases were written for this example and are dedicated to the public domain.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("speech_transcripts_generate", HERE.parent / "speech-transcripts" / "generate.py")
speech = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(speech)

RATE = speech.RATE
LABELS = ("speech", "noise")
SEED = 1616
CLIPS = 12
GOLD_EVERY = 4
PHRASES = (
    "Good morning.", "Over here.", "Wait for me.", "Not yet.", "Come inside.", "That is fine.",
    "See you soon.", "Hold on.", "Right away.", "Just a minute.", "Look up.", "All done.",
)


def _noise(rng: np.random.Generator) -> np.ndarray:
    n = int(rng.uniform(0.25, 0.5) * RATE)
    x = rng.standard_normal(n)
    if rng.random() < 0.5:  # a rumble: a moving average is a crude low-pass
        x = np.convolve(x, np.ones(12) / 12, mode="same")
    fade = np.minimum(1, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.01 * RATE))
    return rng.uniform(0.25, 0.5) * fade * x / np.abs(x).max()


def _phrase(k: int) -> np.ndarray:
    x = speech.speak(PHRASES[k % len(PHRASES)], speech.VOICES[k % len(speech.VOICES)], speech.SPEEDS[k % len(speech.SPEEDS)])
    loud = np.flatnonzero(np.abs(x) > 0.01)
    return x[loud[0] : loud[-1] + 1]


def clip(k: int, rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    parts = ["speech"] + ["speech"] * int(rng.random() < 0.35) + ["noise"] * int(rng.random() < 0.75)
    rng.shuffle(parts)
    pieces, regions, at = [], [], 0
    phrase = 2 * k
    for label in parts:
        gap = np.zeros(int(rng.uniform(0.2, 0.45) * RATE))
        sound = _phrase(phrase) if label == "speech" else _noise(rng)
        phrase += label == "speech"
        pieces += [gap, sound]
        at += len(gap)
        regions.append({"start_s": round(at / RATE, 3), "end_s": round((at + len(sound)) / RATE, 3), "label": label})
        at += len(sound)
    pieces.append(np.zeros(int(0.2 * RATE)))
    x = np.concatenate(pieces)
    return x + 0.002 * rng.standard_normal(len(x)), regions


def main() -> None:
    rng = np.random.default_rng(SEED)
    rows = []
    for k in range(CLIPS):
        name = f"clip_{k:02d}.wav"
        x, regions = clip(k, rng)
        speech.write_wav(HERE / "data" / "audio" / name, x)
        rows.append({"file": name, "answer": regions})
    speech.write_jsonl(HERE / "truth" / "labels.jsonl", rows)
    speech.write_jsonl(HERE / "gold" / "gold.jsonl", rows[::GOLD_EVERY])


if __name__ == "__main__":
    main()
