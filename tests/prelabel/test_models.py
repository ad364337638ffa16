from __future__ import annotations

import wave

import numpy as np
import pyarrow as pa
from PIL import Image

from schemas.config import ModelConfig
from tasks.prelabel.models import (
    featurize,
    load_sklearn,
    save_sklearn,
    train_sklearn,
    training_version,
)


def _media_batch(paths: list) -> pa.Table:
    n = len(paths)
    return pa.table({"item_id": [f"i{k}" for k in range(n)], "payload": pa.nulls(n, pa.string()),
                     "uri": [p.as_uri() for p in paths], "metadata": pa.nulls(n, pa.string())})


def test_image_model_learns_bright_vs_dark(tmp_path) -> None:
    paths, y = [], []
    rng = np.random.default_rng(0)
    for k in range(20):
        bright = k % 2 == 0
        px = rng.integers(150, 255, (8, 8)) if bright else rng.integers(0, 100, (8, 8))
        p = tmp_path / f"{k}.png"
        Image.fromarray(px.astype(np.uint8)).save(p)
        paths.append(p)
        y.append("bright" if bright else "dark")
    batch = _media_batch(paths)
    assert featurize("image", batch).shape == (20, 16 * 16 + 16)
    run = train_sklearn("px", "image", ["bright", "dark"], batch, y, ModelConfig(name="px"))
    classes, probs = run.model.predict_proba(batch)
    assert (np.asarray(classes)[probs.argmax(1)] == np.asarray(y)).all()
    assert run.oof_probs.shape == (20, 2)


def _wav(path, freq: float, rate: int = 8000) -> None:
    t = np.arange(rate // 4) / rate
    x = (np.sin(2 * np.pi * freq * t) * 20000).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(x.tobytes())


def test_audio_model_separates_low_and_high_tones(tmp_path) -> None:
    paths, y = [], []
    for k in range(16):
        low = k % 2 == 0
        p = tmp_path / f"{k}.wav"
        _wav(p, 200 + 10 * k if low else 3000 + 10 * k)
        paths.append(p)
        y.append("low" if low else "high")
    batch = _media_batch(paths)
    run = train_sklearn("spec", "audio", ["low", "high"], batch, y, ModelConfig(name="spec"))
    classes, probs = run.model.predict_proba(batch)
    assert (np.asarray(classes)[probs.argmax(1)] == np.asarray(y)).all()


def test_version_is_a_hash_of_the_training_data_and_persists(tmp_path) -> None:
    m = ModelConfig(name="t")
    assert training_version(["a", "b"], ["x", "y"], "text", m) == training_version(["b", "a"], ["y", "x"], "text", m)
    assert training_version(["a", "b"], ["x", "y"], "text", m) != training_version(["a", "b"], ["x", "x"], "text", m)
    texts = ["spam spam buy", "buy now spam", "hello friend", "nice song friend"] * 3
    batch = pa.table({"item_id": [f"i{k}" for k in range(12)], "payload": texts, "uri": pa.nulls(12, pa.string()), "metadata": pa.nulls(12, pa.string())})
    run = train_sklearn("t", "text", ["ham", "spam"], batch, ["spam", "spam", "ham", "ham"] * 3, m)
    path = save_sklearn(run, tmp_path)
    again = load_sklearn(tmp_path / "t")
    assert path.name == f"{run.model.version}.pkl" and again.model.version == run.model.version
    np.testing.assert_allclose(again.model.predict_proba(batch)[1], run.model.predict_proba(batch)[1])


def test_config_rejects_http_model_without_url_and_duplicate_names() -> None:
    import pytest

    from schemas.config import validate_config
    from tasks.errors import ConfigError

    base = {"name": "p", "labels": ["a", "b"]}
    with pytest.raises(ConfigError, match="kind 'http' needs a url"):
        validate_config({**base, "prelabel": {"models": [{"name": "m", "kind": "http"}]}})
    with pytest.raises(ConfigError, match=r"labeling function names must be unique, repeated: \['x'\]"):
        validate_config({**base, "prelabel": {"labeling_functions": [{"name": "x", "sql": "NULL"}, {"name": "x", "sql": "NULL"}]}})
    with pytest.raises(ConfigError, match="kind"):
        validate_config({**base, "prelabel": {"models": [{"name": "m", "kind": "torch"}]}})
