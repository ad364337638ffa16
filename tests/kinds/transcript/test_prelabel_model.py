"""The reference speech recogniser (`python -m model_server --asr`, a real process on 127.0.0.1) on the example's
synthetic clips, WAV decoding of every sample format it takes, and the HTTP speech client: batches, retries,
undecodable clips, refused answers."""

from __future__ import annotations

import base64
import itertools
import json
import struct
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import jiwer
import numpy as np
import pyarrow as pa
import pytest

from model_server.asr import ASR_VERSION
from tasks.ingest.wav import RATE, decode_wav
from schemas.config import ModelConfig
from tasks.errors import ServiceError, TerminalError
from tasks.http import make_client
from tasks.kinds.transcript.http_speech import HttpSpeechModel
from tests.model_servers import model_servers

EXAMPLE = Path(__file__).parents[3] / "examples" / "speech-transcripts"


def _truth() -> dict[str, str]:
    rows = [json.loads(line) for line in (EXAMPLE / "truth" / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["file"]: r["answer"]["text"] for r in rows}


def _wav_bytes(x: np.ndarray, rate: int, *, tag: int = 1, bits: int = 16, extensible: bool = False) -> bytes:
    """A WAV file of float samples `x` (frames, channels) in the given encoding, written by hand (the stdlib writes PCM only)."""
    ch = x.shape[1]
    if tag == 3:
        data = x.astype("<f4" if bits == 32 else "<f8").tobytes()
    elif bits == 8:
        data = np.clip(np.round(x * 127 + 128), 0, 255).astype(np.uint8).tobytes()
    elif bits == 24:
        v = np.clip(np.round(x * (2**23 - 1)), -(2**23), 2**23 - 1).astype("<i4").reshape(-1)
        data = np.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    else:
        data = np.clip(np.round(x * (2 ** (bits - 1) - 1)), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1).astype(f"<i{bits // 8}").tobytes()
    block = ch * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, ch, rate, rate * block, block, bits)
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Eight example clips, the first also as 24-bit and as 8-bit at 22.05 kHz stereo, plus two files that are not audio."""
    folder = tmp_path_factory.mktemp("clips")
    truth = dict(list(_truth().items())[:8])
    for name in truth:
        (folder / name).write_bytes((EXAMPLE / "data" / "audio" / name).read_bytes())
    first = min(truth)
    with wave.open(str(folder / first)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float) / 32768
    from scipy.signal import resample_poly

    up = resample_poly(x, 441, 320)
    stereo = np.stack([up, up], axis=1)
    (folder / "deep.wav").write_bytes(_wav_bytes(x[:, None], RATE, bits=24))
    (folder / "coarse.wav").write_bytes(_wav_bytes(stereo, 22_050, bits=8))
    (folder / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk and nothing more")
    (folder / "alaw.wav").write_bytes(_wav_bytes(x[:, None], RATE, bits=16)[:20] + struct.pack("<H", 6)
                                      + _wav_bytes(x[:, None], RATE, bits=16)[22:])
    return folder, truth


@pytest.fixture(scope="module")
def asr() -> Iterator[dict[str, str]]:
    with model_servers(["--asr"], {"ok": [], "flaky": ["--fail-first", "2"], "down": ["--fail-first", "1000"]}, 90,
                       "speech recognition server") as urls:
        yield urls


def test_wav_decoding_takes_every_pcm_and_float_format_and_refuses_the_rest_in_one_line() -> None:
    t = np.arange(int(0.5 * 44_100)) / 44_100
    sig = 0.5 * np.sin(2 * np.pi * 440 * t)
    ref, dur = decode_wav(_wav_bytes(sig[:, None], 44_100, bits=16))
    assert len(ref) == 8_000 and dur == pytest.approx(0.5)
    for kw in ({"bits": 8}, {"bits": 24}, {"bits": 32}, {"tag": 3, "bits": 32}, {"tag": 3, "bits": 64},
               {"tag": 3, "bits": 32, "extensible": True}, {"bits": 24, "extensible": True}):
        got, d = decode_wav(_wav_bytes(np.stack([sig, sig], axis=1), 44_100, **kw))
        assert d == pytest.approx(0.5) and len(got) == len(ref), kw
        # an 8-bit step is 256 16-bit steps (and its writer scales by 127, the reader by 128); the rest are exact up to rounding
        assert np.abs(got.astype(float) - ref).max() < (400 if kw.get("bits") == 8 else 2), kw
    for data, message in ((b"ID3\x03 an mp3 file", "not a WAV file"),
                          (_wav_bytes(sig[:, None], 44_100)[:40], "no 'data' chunk"),
                          (_wav_bytes(sig[:, None], 44_100, tag=6, bits=8), "unsupported WAV encoding A-law"),
                          (_wav_bytes(sig[:, None], 44_100, bits=12 + 0), "unsupported WAV sample format")):
        with pytest.raises(ValueError, match=message) as e:
            decode_wav(data)
        assert "\n" not in str(e.value)


def test_transcribe_endpoint_answers_text_word_times_and_speech_segments(asr: dict, clips: tuple) -> None:
    folder, truth = clips
    names = sorted(truth)
    items = [{"item_id": n, "uri": (folder / n).as_uri()} for n in [*names, "deep.wav", "coarse.wav", "broken.wav", "alaw.wav"]]
    items.append({"item_id": "inline", "audio": base64.b64encode((folder / names[0]).read_bytes()).decode()})
    info = httpx.get(asr["ok"] + "/info").json()
    assert info == {"name": "pocketsphinx-en-us", "version": ASR_VERSION, "labels": ["speech"], "answer": "transcript"}
    body = httpx.post(asr["ok"] + "/transcribe", json={"items": items}, timeout=120).json()
    out, errors = body["transcripts"], body["errors"]
    assert len(out) == len(items) == len(errors)
    for t, name in zip(out[: len(names)], names):
        assert t["text"] == " ".join(w["word"] for w in t["words"])
        with wave.open(str(folder / name)) as w:
            duration = w.getnframes() / w.getframerate()
        assert t["duration_s"] == pytest.approx(duration, abs=1e-3)
        assert all(0 <= w["start_s"] < w["end_s"] <= duration and 0 <= w["score"] <= 1 for w in t["words"])
        starts = [w["start_s"] for w in t["words"]]
        assert starts == sorted(starts)
        # every word lies inside one speech segment, and segments do not overlap
        segs = t["segments"]
        assert all(any(s["start_s"] <= w["start_s"] and w["end_s"] <= s["end_s"] for s in segs) for w in t["words"])
        assert all(a["end_s"] < b["start_s"] for a, b in itertools.pairwise(segs)) and all(s["label"] == "speech" for s in segs)
    # a modest recogniser, but one that hears speech: well below the WER of guessing (1.0), and words on every clip
    wer = jiwer.wer([truth[n].lower().rstrip(".") for n in names], [t["text"] for t in out[: len(names)]])
    assert wer < 0.95 and all(t["words"] for t in out[: len(names)]), wer
    # 24-bit at 16 kHz is the same samples; 8-bit stereo at 22.05 kHz is converted and still heard
    assert out[len(names)]["text"] == out[0]["text"] and out[len(names) + 1]["words"]
    assert out[-1]["text"] == out[0]["text"]
    assert errors[: len(names) + 2] == [None] * (len(names) + 2) and errors[-1] is None
    assert out[len(names) + 2] is None and "no 'fmt' chunk" in errors[len(names) + 2]
    assert out[len(names) + 3] is None and "A-law" in errors[len(names) + 3]


def _batch(folder: Path, names: list[str]) -> pa.Table:
    metas = []
    for n in names:
        try:
            with wave.open(str(folder / n)) as w:
                metas.append(json.dumps({"duration_s": w.getnframes() / w.getframerate()}))
        except (wave.Error, EOFError, RuntimeError):
            metas.append(None)
    return pa.table({"item_id": names, "uri": [(folder / n).as_uri() for n in names], "metadata": metas})


def test_client_batches_requests_and_sets_undecodable_clips_aside(asr: dict, clips: tuple) -> None:
    folder, truth = clips
    names = [*sorted(truth), "broken.wav"]
    with HttpSpeechModel(ModelConfig(name="asr", kind="http", url=asr["ok"], batch_size=3, concurrency=2), None) as m:
        assert m.version == ASR_VERSION
        before = httpx.get(asr["ok"] + "/stats").json()["predict_calls"]
        got = m.transcribe(_batch(folder, names))
        assert httpx.get(asr["ok"] + "/stats").json()["predict_calls"] - before == 3  # 9 clips in batches of 3
    assert got.column("item_id").to_pylist() == sorted(truth)
    assert all(json.loads(w) for w in got.column("words").to_pylist())
    [p] = m.problems
    assert p["reason"] == "undecodable_audio" and p["raw"] == "broken.wav"
    assert "model 'asr' could not decode item broken.wav's audio (broken.wav)" in p["detail"] and "\n" not in p["detail"]


def test_client_retries_a_failing_endpoint_then_gives_up_as_a_service_error(asr: dict, clips: tuple) -> None:
    folder, truth = clips
    name = sorted(truth)[:1]
    with HttpSpeechModel(ModelConfig(name="asr", kind="http", url=asr["flaky"], retries=4, backoff_seconds=0.01), None) as m:
        assert m.transcribe(_batch(folder, name)).num_rows == 1  # /info and the first /transcribe absorbed the failures
    with pytest.raises(ServiceError, match=asr["down"]), \
            HttpSpeechModel(ModelConfig(name="asr", kind="http", url=asr["down"], retries=2, backoff_seconds=0.01), None) as m:
        m.transcribe(_batch(folder, name))


def test_segments_client_refuses_a_recogniser_whose_labels_are_not_the_projects(asr: dict) -> None:
    with pytest.raises(TerminalError, match=r"labels segments \['speech'\], outside the label set \['speaker_a', 'speaker_b'\]"):
        HttpSpeechModel(ModelConfig(name="asr", kind="http", url=asr["ok"]), ["speaker_a", "speaker_b"])


@pytest.mark.parametrize(("answer", "message"), [
    ({"text": 3}, "text is 3, expected a string"),
    ({"text": "caf\ufffd au lait"}, "text is 'caf\ufffd au lait': text in a wrong encoding"),
    ({"text": "x", "words": [{"word": "caf\u00c3\u00a9\u0001", "start_s": 0, "end_s": 0.2}]}, r"words\[0\].word is .*: text in a wrong encoding"),
    ({"text": "a b", "words": [{"word": "a", "start_s": 0.5, "end_s": 0.2}]}, r"words\[0\].end_s is 0.2, before its start 0.5"),
    ({"text": "a", "words": [{"word": "a", "start_s": "soon", "end_s": 0.2}]}, r"words\[0\].start_s is 'soon'"),
    ({"text": "a", "words": [{"word": "a", "start_s": -0.1, "end_s": 0.2}]}, r"words\[0\].start_s is -0.1, expected a finite number"),
    ({"text": "a", "words": [{"word": "a", "start_s": 0.1, "end_s": 0.2, "score": 1.5}]}, r"words\[0\].score is 1.5"),
    ({"text": "", "segments": [{"start_s": 1.0, "end_s": 1.0, "label": "speech"}]}, r"segments\[0\].end_s is 1.0, not after its start"),
    ({"text": "", "segments": [{"start_s": 0.1, "end_s": 0.4, "label": "dog"}]}, r"segments\[0\].label is 'dog'"),
])
def test_client_stores_nothing_from_a_recogniser_answering_impossible_things(answer: dict, message: str) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/info":
            return httpx.Response(200, json={"name": "x", "version": "1", "labels": ["speech"]})
        n = len(json.loads(request.content)["items"])
        return httpx.Response(200, content=json.dumps({"transcripts": [answer] * n, "errors": [None] * n}))

    client = make_client("http://asr.test", transport=httpx.MockTransport(reply), retries=0)
    model = HttpSpeechModel(ModelConfig(name="bad", kind="http", url="http://asr.test"), ["speech"], client=client)
    batch = pa.table({"item_id": ["c1"], "uri": ["file:///c1.wav"], "metadata": ['{"duration_s": 2.0}']})
    with pytest.raises(TerminalError, match=f"model 'bad' on item c1: {message}.*nothing from this model was stored"):
        model.transcribe(batch)


def test_client_cuts_times_past_the_clip_end_and_drops_segments_beyond_it() -> None:
    answer = {"text": "a b", "words": [{"word": "a", "start_s": 0.1, "end_s": 0.5, "score": 0.9},
                                       {"word": "b", "start_s": 1.9, "end_s": 2.3, "score": 0.4}],
              "segments": [{"start_s": 0.05, "end_s": 2.4, "label": "speech", "score": 0.6},
                           {"start_s": 2.1, "end_s": 2.5, "label": "speech", "score": 0.2}]}

    def reply(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/info":
            return httpx.Response(200, json={"name": "x", "version": "1", "labels": ["speech"]})
        return httpx.Response(200, json={"transcripts": [answer], "errors": [None]})

    client = make_client("http://asr.test", transport=httpx.MockTransport(reply), retries=0)
    model = HttpSpeechModel(ModelConfig(name="pad", kind="http", url="http://asr.test"), ["speech"], client=client)
    got = model.transcribe(pa.table({"item_id": ["c1"], "uri": ["file:///c1.wav"], "metadata": ['{"duration_s": 1.9996}']}))
    # cut to the end, rounded down to the millisecond so the rounded time stays inside the clip
    assert json.loads(got.column("words")[0].as_py())[1] == {"word": "b", "start_s": 1.9, "end_s": 1.999, "score": 0.4}
    assert json.loads(got.column("segments")[0].as_py()) == [{"start_s": 0.05, "end_s": 1.999, "label": "speech", "score": 0.6}]
