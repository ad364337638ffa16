"""The reference speech recogniser: pocketsphinx with the US English model inside its wheel (nothing downloaded).

One clip in, one hypothesis out: the words with their times and a score each, the text they make, and the
speech segments of the clip. A word's score is pocketsphinx's posterior probability of that word (from the
lattice of the utterance, in [0, 1]); it is a raw score that the pre-labeling stage calibrates on gold
before it decides anything. Fillers (silence, breath, noise, the sentence markers) are not words; an
alternative pronunciation's suffix ("read(2)") is dropped. Speech segments are the words' time spans joined
where the pause between two words is shorter than `JOIN_PAUSE_S`, each padded by `PAD_S` (inside the clip)
and scored by the mean of its words' scores: the recogniser only says where it heard words, so a segment
is "speech" and nothing else.

The decoder is not thread-safe and costs a few hundred milliseconds to load, so one instance serves every
request under a lock (the endpoint's concurrency is the server's process count).
"""

from __future__ import annotations

import re
import threading
from importlib.metadata import version as _pkg_version

import numpy as np

from tasks.ingest.wav import RATE

__all__ = ["ASR_VERSION", "JOIN_PAUSE_S", "PAD_S", "SPEECH_LABEL", "Recogniser"]

ASR_VERSION = f"pocketsphinx-{_pkg_version('pocketsphinx')}-en-us-1"
"""Changes with the package or with how hypotheses are made here, so a redeployed recogniser re-labels."""
SPEECH_LABEL = "speech"
JOIN_PAUSE_S = 0.3
PAD_S = 0.05
_FILLER = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+)$")
_ALT = re.compile(r"\(\d+\)$")


def speech_segments(words: list[dict], duration_s: float) -> list[dict]:
    """Words joined into padded speech segments (see the module doc)."""
    out: list[dict] = []
    for w in words:
        if out and w["start_s"] - out[-1]["end_s"] < JOIN_PAUSE_S:
            out[-1]["end_s"], out[-1]["_scores"] = w["end_s"], [*out[-1]["_scores"], w["score"]]
        else:
            out.append({"start_s": w["start_s"], "end_s": w["end_s"], "_scores": [w["score"]]})
    return [{"start_s": round(max(s["start_s"] - PAD_S, 0.0), 3), "end_s": round(min(s["end_s"] + PAD_S, duration_s), 3),
             "label": SPEECH_LABEL, "score": round(float(np.mean(s.pop("_scores"))), 4)} for s in out]


class Recogniser:
    """pocketsphinx's default English decoder at 16 kHz, one utterance per clip."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder(samprate=RATE, loglevel="FATAL")
        self._frate = int(self._decoder.config["frate"])
        self._lock = threading.Lock()

    def transcribe(self, samples: np.ndarray, duration_s: float) -> dict:
        """`{"text", "words": [{"word", "start_s", "end_s", "score"}], "segments": [...]}` of 16 kHz int16 samples."""
        d = self._decoder
        with self._lock:
            d.start_utt()
            d.process_raw(samples.astype("<i2").tobytes(), full_utt=True)
            d.end_utt()
            segs = [(s.word, s.start_frame, s.end_frame, s.prob) for s in d.seg()] if d.hyp() is not None else []
        words = [{"word": _ALT.sub("", w), "start_s": round(a / self._frate, 3), "end_s": round(min((b + 1) / self._frate, duration_s), 3),
                  "score": round(float(min(max(p, 0.0), 1.0)), 4)}
                 for w, a, b, p in segs if not _FILLER.match(w)]
        words = [w for w in words if w["end_s"] > w["start_s"]]
        return {"text": " ".join(w["word"] for w in words), "words": words, "segments": speech_segments(words, duration_s)}
