"""Small transcript and segments projects for the queue tests (app, Label Studio, Chromium), with
short generated WAV clips: tones and noise bursts between silences, so the waveform has a shape and
regions have something to mark. Synthetic sound, no speech."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np

from schemas.config import ProjectConfig

__all__ = ["CLIPS", "SEGMENT_LABELS", "speech_config", "write_clips"]

SEGMENT_LABELS = ["speech", "music", "noise"]
RATE = 16_000
# name -> (duration_s, [(start_s, end_s, what)]): what sounds where ("tone" Hz, or "noise").
CLIPS: dict[str, tuple[float, list[tuple[float, float, str]]]] = {
    "clip1.wav": (3.0, [(0.4, 1.2, "440"), (1.8, 2.6, "noise")]),
    "clip2.wav": (2.0, [(0.2, 1.5, "660")]),
}


def write_clips(folder: Path) -> dict[str, Path]:
    """Each clip of `CLIPS` as a 16-bit mono 16 kHz WAV in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(16)
    out = {}
    for name, (duration, parts) in CLIPS.items():
        t = np.arange(int(duration * RATE)) / RATE
        signal = rng.normal(0, 0.003, t.size)  # a quiet floor, as real rooms have
        for start, end, what in parts:
            on = (t >= start) & (t < end)
            burst = rng.normal(0, 0.25, on.sum()) if what == "noise" else 0.5 * np.sin(2 * np.pi * float(what) * t[on])
            signal[on] += burst
        with wave.open(str(folder / name), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())
        out[name] = folder / name
    return out


def speech_config(task_kind: str, data_kind: str = "audio", root: Path | None = None, **overrides: Any) -> ProjectConfig:
    """A transcript or segments project (segments over `SEGMENT_LABELS`); with `root`, its folder."""
    data: dict[str, Any] = {"name": f"{task_kind}-queue", "task_kind": task_kind, "data_kind": data_kind,
                            "labels": SEGMENT_LABELS if task_kind == "segments" else []}
    data.update(overrides)
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
        data["root"] = str(root.resolve())
    return ProjectConfig.model_validate(data)
