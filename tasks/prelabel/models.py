"""Models in the loop: one small interface, and a scikit-learn model trained on the project's labels.

    class Model(Protocol):
        name: str; version: str
        def predict_proba(self, batch: pa.Table) -> tuple[list[str], np.ndarray]

`batch` has the item columns `item_id, payload, uri, metadata`. The scikit-learn model uses TF-IDF +
logistic regression for text, pixel + histogram features (Pillow) for images and band energies of the
spectrum for WAV audio. Where an item may carry several labels (the kind trains it through
`train_sklearn_ovr`) the classifier is one-vs-rest: one logistic regression per label over the same
features, whose probabilities are P(label present) and do not sum to 1. Its version is a hash of the data it was trained on, so the same training data
always yields the same version (and re-running adds no votes).
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import pyarrow as pa

from schemas.config import ModelConfig
from tasks.errors import InputError

__all__ = ["Model", "OneVsRest", "SklearnModel", "TrainingRun", "featurize", "load_sklearn", "save_sklearn", "train_sklearn",
           "train_sklearn_ovr"]


@runtime_checkable
class Model(Protocol):
    """Batch of items in, class probabilities out; `version` changes whenever predictions may change."""

    name: str
    version: str

    def predict_proba(self, batch: pa.Table) -> tuple[list[str], np.ndarray]: ...


_IMG_SIDE = 16
_AUDIO_BANDS = 32


def _local_path(uri: str) -> Path:
    u = urlparse(uri)
    if u.scheme in ("", "file"):
        return Path(url2pathname(u.path)) if u.scheme else Path(uri)
    raise InputError(f"model features: only local media can be read, got {uri!r}")


def _read_media(uri: str) -> bytes:
    return _local_path(uri).read_bytes()


def _image_features(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        g = im.convert("L")
        px = np.asarray(g.resize((_IMG_SIDE, _IMG_SIDE)), dtype=np.float32).ravel() / 255.0
        hist = np.asarray(g.histogram(), dtype=np.float32).reshape(16, 16).sum(axis=1)
    return np.concatenate([px, hist / max(hist.sum(), 1.0)])


def _audio_features(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data)) as w:
        n, width, ch = w.getnframes(), w.getsampwidth(), w.getnchannels()
        raw = w.readframes(n)
    dtype = {1: np.uint8, 2: np.int16, 4: np.int32}[width]
    x = np.frombuffer(raw, dtype=dtype).astype(np.float32)
    if width == 1:
        x -= 128.0
    x = x.reshape(-1, ch).mean(axis=1) if ch > 1 else x
    spec = np.abs(np.fft.rfft(x)) ** 2 if len(x) else np.zeros(2)
    bands = np.array([b.sum() for b in np.array_split(spec, _AUDIO_BANDS)], dtype=np.float64)
    energy = np.log1p(bands)
    return np.concatenate([energy / max(energy.max(), 1e-9), [np.log1p(np.abs(x).mean() if len(x) else 0.0)]]).astype(np.float32)


def featurize(data_kind: str, batch: pa.Table) -> list[str] | np.ndarray:
    """The model input for a batch: the texts, or a feature matrix read from the media URIs."""
    if data_kind == "text":
        return [t or "" for t in batch.column("payload").to_pylist()]
    fn = _image_features if data_kind == "image" else _audio_features
    rows = []
    for item, uri in zip(batch.column("item_id").to_pylist(), batch.column("uri").to_pylist()):
        try:
            rows.append(fn(_read_media(uri)))
        except Exception as e:  # noqa: BLE001  (any unreadable file becomes an InputError naming it)
            raise InputError(f"model features: cannot read {data_kind} item {item} at {uri!r}: {type(e).__name__}: {e}") from None
    return np.vstack(rows) if rows else np.zeros((0, 1), np.float32)


def _pipeline(data_kind: str, mcfg: ModelConfig, n_train: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = LogisticRegression(max_iter=1000, C=4.0 if data_kind == "text" else 1.0)
    if data_kind == "text":
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(
            sublinear_tf=True, min_df=2 if n_train >= 200 else 1, max_features=mcfg.max_features,
            ngram_range=(1, mcfg.ngram_max), dtype=np.float32, strip_accents="unicode",
        )
        return make_pipeline(vec, clf)
    return make_pipeline(StandardScaler(), clf)


@dataclass
class SklearnModel:
    """A fitted scikit-learn pipeline with the name, version and classes the stage records."""

    name: str
    version: str
    data_kind: str
    classes: list[str]
    pipeline: object
    n_train: int
    config_hash: str

    def predict_proba(self, batch: pa.Table) -> tuple[list[str], np.ndarray]:
        if batch.num_rows == 0:
            return list(self.classes), np.zeros((0, len(self.classes)))
        p = self.pipeline.predict_proba(featurize(self.data_kind, batch))
        return self._align(p)

    def predict_proba_inputs(self, inputs: list[str] | np.ndarray) -> tuple[list[str], np.ndarray]:
        """Predict from already featurized inputs (the model server receives texts)."""
        return self._align(self.pipeline.predict_proba(inputs))

    def _align(self, p: np.ndarray) -> tuple[list[str], np.ndarray]:
        fitted = list(self.pipeline.classes_)
        out = np.zeros((p.shape[0], len(self.classes)))
        for j, c in enumerate(fitted):
            out[:, self.classes.index(c)] = p[:, j]
        return list(self.classes), out


@dataclass
class TrainingRun:
    model: SklearnModel
    oof_item_ids: list[str]
    oof_probs: np.ndarray  # out-of-fold probabilities of the training items, columns = model.classes


def _config_hash(data_kind: str, mcfg: ModelConfig) -> str:
    keys = {"kind": data_kind, "max_features": mcfg.max_features, "ngram_max": mcfg.ngram_max, "cv_folds": mcfg.cv_folds, "v": 1}
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:8]


def training_version(item_ids: Sequence[str], labels: Sequence[str], data_kind: str, mcfg: ModelConfig) -> str:
    """Hash of the training data (and the few settings that change the model)."""
    h = hashlib.sha256(_config_hash(data_kind, mcfg).encode())
    for i, y in sorted(zip(item_ids, labels)):
        h.update(f"{i}\x1f{y}\x1e".encode())
    return h.hexdigest()[:16]


def train_sklearn(name: str, data_kind: str, classes: list[str], batch: pa.Table, y: Sequence[str], mcfg: ModelConfig) -> TrainingRun:
    """Fit on `batch` (item columns) with labels `y`; training items also get out-of-fold probabilities.

    Out-of-fold predictions are what the stage stores as this model's votes on its own training items
    (gold among them), so calibration and thresholds measured on gold are not flattered by memorisation.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    y = np.asarray(list(y), dtype=object)
    item_ids = batch.column("item_id").to_pylist()
    X = featurize(data_kind, batch)
    present = sorted(set(y))
    if len(present) < 2:
        raise InputError(f"model {name!r}: training labels contain only {present}; at least two classes are needed")
    pipe = _pipeline(data_kind, mcfg, len(y))
    min_count = min(int((y == c).sum()) for c in present)
    folds = min(mcfg.cv_folds, min_count)
    model = SklearnModel(name, training_version(item_ids, y.tolist(), data_kind, mcfg), data_kind, list(classes), pipe, len(y), _config_hash(data_kind, mcfg))
    if folds >= 2:
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        oof = cross_val_predict(_pipeline(data_kind, mcfg, len(y)), X, y, cv=cv, method="predict_proba")
        order = sorted(present)  # cross_val_predict columns follow sorted class labels
        oof_full = np.zeros((len(y), len(classes)))
        for j, c in enumerate(order):
            oof_full[:, classes.index(c)] = oof[:, j]
    else:
        oof_full = None
    pipe.fit(X, y)
    if oof_full is None:
        oof_full = model.predict_proba_inputs(X)[1]
    return TrainingRun(model, item_ids, oof_full)


class OneVsRest:
    """Shared features, then one binary logistic regression per label; `predict_proba` gives P(present) per label.

    A label present on every training item, or on none, gets a constant probability (its smoothed
    training rate) instead of a classifier that cannot be fitted. Stands where `SklearnModel` expects a
    fitted pipeline (`predict_proba`, `classes_`).
    """

    def __init__(self, features: object, classes: Sequence[str], C: float = 1.0) -> None:
        self.features, self.classes_, self.C = features, list(classes), C

    def fit(self, X, Y: np.ndarray) -> "OneVsRest":
        from sklearn.linear_model import LogisticRegression

        Y = np.asarray(Y, bool)
        F = self.features.fit_transform(X)
        self.models_: list[object | float] = []
        for j in range(Y.shape[1]):
            y = Y[:, j]
            if y.all() or not y.any():
                self.models_.append((y.sum() + 1.0) / (len(y) + 2.0))
            else:
                self.models_.append(LogisticRegression(max_iter=1000, C=self.C).fit(F, y))
        return self

    def predict_proba(self, X) -> np.ndarray:
        F = self.features.transform(X)
        out = np.empty((F.shape[0], len(self.models_)))
        for j, m in enumerate(self.models_):
            out[:, j] = m if isinstance(m, float) else m.predict_proba(F)[:, list(m.classes_).index(True)]
        return out


def _ovr_pipeline(data_kind: str, mcfg: ModelConfig, n_train: int, classes: Sequence[str]) -> OneVsRest:
    from sklearn.pipeline import make_pipeline

    steps = [step for _, step in _pipeline(data_kind, mcfg, n_train).steps[:-1]]
    return OneVsRest(make_pipeline(*steps), classes, C=4.0 if data_kind == "text" else 1.0)


def train_sklearn_ovr(name: str, data_kind: str, classes: list[str], batch: pa.Table, Y: np.ndarray, mcfg: ModelConfig) -> TrainingRun:
    """Fit one-vs-rest on `batch` with the label indicator matrix `Y` (items x classes); out-of-fold as `train_sklearn`."""
    from sklearn.model_selection import KFold

    Y = np.asarray(Y, bool)
    item_ids = batch.column("item_id").to_pylist()
    if not Y.any(axis=0).any() or Y.all(axis=0).all():
        raise InputError(f"model {name!r}: every training item carries the same labels; nothing to learn")
    X = featurize(data_kind, batch)
    keys = ["|".join(np.asarray(classes, dtype=object)[row].tolist()) for row in Y]
    version = training_version(item_ids, keys, data_kind, mcfg)
    pipe = _ovr_pipeline(data_kind, mcfg, len(Y), classes)
    model = SklearnModel(name, version, data_kind, list(classes), pipe, len(Y), _config_hash(data_kind, mcfg))
    folds = min(mcfg.cv_folds, len(Y))
    oof = np.zeros(Y.shape)
    for train_idx, test_idx in KFold(n_splits=folds, shuffle=True, random_state=0).split(np.arange(len(Y))):
        part = _ovr_pipeline(data_kind, mcfg, len(train_idx), classes)
        take = (lambda rows: [X[r] for r in rows]) if isinstance(X, list) else (lambda rows: X[rows])
        part.fit(take(train_idx), Y[train_idx])
        oof[test_idx] = part.predict_proba(take(test_idx))
    pipe.fit(X, Y)
    return TrainingRun(model, item_ids, oof)


def save_sklearn(run: TrainingRun, models_dir: Path) -> Path:
    """Persist under `<models_dir>/<name>/<version>.pkl` and point `current.json` at it."""
    d = models_dir / run.model.name
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{run.model.version}.pkl"
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump({"model": run.model, "oof_item_ids": run.oof_item_ids, "oof_probs": run.oof_probs}, f, protocol=5)
    tmp.replace(path)
    (d / "current.json").write_text(json.dumps({"version": run.model.version, "n_train": run.model.n_train, "path": path.name}))
    return path


def load_sklearn(path: Path) -> TrainingRun:
    """Load a persisted model (a file written by `save_sklearn`, or a model folder with current.json)."""
    path = Path(path)
    if path.is_dir():
        meta = json.loads((path / "current.json").read_text())
        path = path / meta["path"]
    with path.open("rb") as f:
        d = pickle.load(f)
    return TrainingRun(d["model"], d["oof_item_ids"], d["oof_probs"])


def current_meta(models_dir: Path, name: str) -> dict | None:
    f = models_dir / name / "current.json"
    return json.loads(f.read_text()) if f.is_file() else None
