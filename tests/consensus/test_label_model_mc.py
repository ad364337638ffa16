"""Label model fitted by matrix completion: recovers known accuracies, falls back, rejects bad options."""

import numpy as np
import pyarrow as pa
import pytest

from tasks.consensus import label_model as lm_mod
from tasks.consensus.label_model import LabelModel
from tasks.consensus.matrix_completion import fit_mu, overlap_moments
from tasks.consensus.votes import encode_votes


def _lf_votes(n=6000, seed=0):
    """Five conditionally independent one-sided rules with known P(fire | class)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    fire = np.array([[0.05, 0.5], [0.1, 0.6], [0.4, 0.05], [0.5, 0.1], [0.02, 0.3]])  # P(fire | y=0), P(fire | y=1)
    says = np.array([1, 1, 0, 0, 1])
    rows = {"item_id": [], "source_id": [], "label": []}
    for j in range(5):
        fired = rng.random(n) < fire[j, y]
        rows["item_id"] += [f"i{i}" for i in range(n)]
        rows["source_id"] += [f"lf{j}"] * n
        rows["label"] += [str(says[j]) if f else None for f in fired]
    return pa.table(rows), y, fire, says


def test_matrix_completion_recovers_firing_rates():
    votes, _y, fire, says = _lf_votes()
    enc = encode_votes(votes, ["0", "1"])
    ids, src, cls, overlap, mask = overlap_moments(enc)
    mu = fit_mu(overlap, mask, cls, np.array([0.5, 0.5]))
    names = enc.source_ids.to_pylist()
    for a in range(len(ids)):
        j = int(names[src[a]][2:])
        assert cls[a] == says[j]
        assert mu[a] == pytest.approx(fire[j], abs=0.04)


def test_label_model_matrix_completion_beats_chance_and_reports_the_fit():
    votes, y, _, _ = _lf_votes()
    for fit in ("matrix_completion", "matrix_completion+em"):
        m = LabelModel(["0", "1"], fit=fit, abstain_evidence=True)
        lab = m.fit_predict(votes)
        pred = np.array([int(x) for x in lab["label"].to_pylist()])
        order = np.array([int(i[1:]) for i in lab["item_id"].to_pylist()])
        assert (pred == y[order]).mean() > 0.8 and m.fit_used_ == fit


def test_matrix_completion_falls_back_to_em_beyond_the_pair_limit(monkeypatch):
    votes, _, _, _ = _lf_votes(n=500)
    monkeypatch.setattr(lm_mod, "MAX_INDICATORS", 3)
    m = LabelModel(["0", "1"], fit="matrix_completion").fit(votes)
    assert m.fit_used_ == "em" and m.n_iter_ > 0


def test_unknown_fit_option_is_echoed():
    with pytest.raises(ValueError, match="'newton'"):
        LabelModel(["0", "1"], fit="newton")
