"""WAV files as ingest records them and the recogniser hears them (16 kHz, mono, 16-bit samples).

One reader for both, so a clip ingest accepts is a clip the recogniser can decode, and the other way round:
ingest records `wav_info` (rate, channels, duration) from the header; the reference recogniser
(model_server) calls `decode_wav`.

The recogniser's acoustic model is trained on 16 kHz speech, so every clip is brought there first: integer
PCM of 8 (unsigned), 16, 24 or 32 bits and IEEE float of 32 or 64 bits (plain or WAVE_FORMAT_EXTENSIBLE
headers) are read with numpy, channels are averaged, and any other rate is resampled by a polyphase filter
(scipy's `resample_poly`, which low-passes before decimating, so a 44.1 kHz clip does not alias). The RIFF
chunks are parsed here rather than by the stdlib `wave` module, which reads neither float nor extensible
files. Anything else (compressed WAV codecs such as A-law or ADPCM, another container, a truncated header)
is a `ValueError` whose message says what was found, one line, for the per-item error of the endpoint.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from math import gcd

import numpy as np

__all__ = ["RATE", "WavInfo", "decode_wav", "wav_info"]

RATE = 16_000
_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
_CODECS = {2: "MS ADPCM", 6: "A-law", 7: "mu-law", 0x11: "IMA ADPCM", 0x55: "MP3"}


def _chunks(data: bytes) -> dict[bytes, bytes]:
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RF64") or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file (no RIFF/WAVE header)")
    out: dict[bytes, bytes] = {}
    at = 12
    while at + 8 <= len(data):
        cid, size = data[at : at + 4], struct.unpack_from("<I", data, at + 4)[0]
        body = data[at + 8 : at + 8 + size]
        out.setdefault(cid, body)
        if cid == b"data":  # a streamed file may declare a size past its end: take what is there
            break
        at += 8 + size + (size & 1)
    for need in (b"fmt ", b"data"):
        if need not in out:
            raise ValueError(f"WAV file has no {need.decode().strip()!r} chunk (truncated?)")
    return out


@dataclass(frozen=True)
class WavInfo:
    """What a WAV header says: samples per second, channels, whole frames in the data chunk, encoding."""

    sample_rate: int
    channels: int
    frames: int
    encoding: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _format(fmt: bytes) -> tuple[int, int, int, int]:
    """(format tag: PCM or float, channels, rate, bytes per sample) of a 'fmt ' chunk this reader decodes."""
    if len(fmt) < 16:
        raise ValueError("WAV 'fmt' chunk is too short")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]  # the first two bytes of the sub-format GUID
    if tag not in (_PCM, _FLOAT):
        raise ValueError(f"unsupported WAV encoding {_CODECS.get(tag, f'format tag {tag}')}: convert it to PCM (16-bit) or float")
    if channels < 1 or rate < 1000:
        raise ValueError(f"WAV header says {channels} channels at {rate} Hz")
    width = bits // 8
    if bits % 8 or (tag == _PCM and width not in (1, 2, 3, 4)) or (tag == _FLOAT and width not in (4, 8)):
        raise ValueError(f"unsupported WAV sample format: {bits}-bit {'float' if tag == _FLOAT else 'integer'}")
    return tag, channels, rate, width


def wav_info(data: bytes) -> WavInfo:
    """The header facts of a WAV file's bytes, checked as `decode_wav` would check them; ValueError says why not."""
    chunks = _chunks(data)
    tag, channels, rate, width = _format(chunks[b"fmt "])
    frames = len(chunks[b"data"]) // (width * channels)
    if not frames:
        raise ValueError("WAV file has no audio frames")
    return WavInfo(rate, channels, frames, f"{8 * width}-bit {'float' if tag == _FLOAT else 'PCM'}")


def _samples(fmt: bytes, raw: bytes) -> tuple[np.ndarray, int]:
    """(float samples in [-1, 1] as (frames, channels), sample rate)."""
    tag, channels, rate, width = _format(fmt)
    frame = width * channels
    raw = raw[: len(raw) - len(raw) % frame]
    if not raw:
        raise ValueError("WAV file has no audio frames")
    if tag == _FLOAT:
        x = np.frombuffer(raw, "<f4" if width == 4 else "<f8").astype(np.float64)
        if not np.isfinite(x).all():
            raise ValueError("WAV float samples hold NaN or infinity")
    elif width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / float(1 << 23)
    else:
        x = np.frombuffer(raw, f"<i{width}").astype(np.float64) / float(1 << (8 * width - 1))
    return x.reshape(-1, channels), rate


def decode_wav(data: bytes) -> tuple[np.ndarray, float]:
    """(16 kHz mono int16 samples, the clip's duration in seconds) of a WAV file's bytes; ValueError says why not."""
    chunks = _chunks(data)
    x, rate = _samples(chunks[b"fmt "], chunks[b"data"])
    duration = x.shape[0] / rate
    mono = x.mean(axis=1)
    if rate != RATE:
        from scipy.signal import resample_poly

        g = gcd(RATE, rate)
        mono = resample_poly(mono, RATE // g, rate // g)
    return np.clip(np.round(mono * 32767.0), -32768, 32767).astype("<i2"), duration
