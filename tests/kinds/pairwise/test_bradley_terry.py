"""Bradley–Terry(-Davidson) strengths on hand-computed cases, and against crowd-kit's outputs."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tasks.kinds.pairwise.bradley_terry import (
    davidson_probabilities,
    fit_bradley_terry,
    fit_strengths,
    missing_information,
)
from tasks.kinds.pairwise.preference import PreferenceModel

FIXTURE = Path(__file__).with_name("crowdkit_bt.json")


def _comparisons(rows):
    a, b, wa, wb, t = zip(*rows)
    return pa.table({"system_a": list(a), "system_b": list(b), "win_a": list(map(float, wa)),
                     "win_b": list(map(float, wb)), "tie": list(map(float, t))})


def test_three_systems_recover_strengths_whose_expected_wins_match_the_counts():
    # Strengths 4 : 2 : 1 give P(x>y) = 2/3, P(y>z) = 2/3, P(x>z) = 4/5. With counts 2-1, 2-1, 4-1 each
    # system's observed wins equal its expected wins (x: 2 + 4 = 3 * 2/3 + 5 * 4/5), the ML equations,
    # so the MLE is log(4, 2, 1) centred: (+ln 2, 0, -ln 2).
    ranking, _fit = fit_bradley_terry(_comparisons([("x", "y", 2, 1, 0), ("y", "z", 2, 1, 0), ("x", "z", 4, 1, 0)]),
                                     ties="none", prior=1e-9)
    assert ranking["system"].to_pylist() == ["x", "y", "z"]
    np.testing.assert_allclose(ranking["strength"].to_numpy(), [np.log(2), 0, -np.log(2)], atol=1e-6)
    np.testing.assert_allclose(ranking["score"].to_numpy(), [4 / 7, 2 / 7, 1 / 7], atol=1e-6)


def test_two_systems_interval_is_the_inverse_fisher_information():
    # 3 wins to 1: d = theta_x - theta_y = ln 3. Information for d: n p (1 - p) = 4 * 3/4 * 1/4 = 3/4, so
    # var(d) = 4/3 and each centred strength (+-d/2) has variance 1/3: interval +-1.96 / sqrt(3).
    ranking, fit = fit_bradley_terry(_comparisons([("x", "y", 3, 1, 0)]), ties="none", prior=1e-9)
    np.testing.assert_allclose(fit.theta, [np.log(3) / 2, -np.log(3) / 2], atol=1e-6)
    np.testing.assert_allclose(np.diag(fit.cov), [1 / 3, 1 / 3], atol=1e-6)
    half = 1.959964 / np.sqrt(3)
    np.testing.assert_allclose(ranking["high"].to_numpy() - ranking["strength"].to_numpy(), [half, half], atol=1e-5)


def test_latent_outcomes_widen_the_interval_by_their_missing_information():
    # Two systems, three items surely won by x, one by y, two at 50/50: soft counts 4 to 2, so d = ln 2 and
    # sigma(d) = 2/3. Complete-data information in d: 6 * 2/3 * 1/3 = 4/3; each 50/50 item's outcome score
    # ([z=x] - [z=y]) / 2 has posterior variance 1/4, the sure ones 0: missing 1/2. Observed information
    # 4/3 - 1/2 = 5/6, var(d) = 6/5 and each centred strength (+-d/2) has variance 6/5 / 4 = 0.3 (0.25
    # had the four soft outcomes been observed comparisons).
    post = np.array([[1, 0, 0]] * 3 + [[0, 1, 0]] + [[0.5, 0.5, 0]] * 2, np.float64)
    a, b = np.zeros(6, np.int64), np.ones(6, np.int64)
    missing = missing_information(a, b, post, 2, ties="none")
    np.testing.assert_allclose(missing, [[0.5, -0.5], [-0.5, 0.5]])
    fit = fit_strengths(a, b, post[:, 0], post[:, 1], post[:, 2], 2, ties="none", prior=1e-9, missing=missing)
    np.testing.assert_allclose(fit.theta, [np.log(2) / 2, -np.log(2) / 2], atol=1e-6)
    np.testing.assert_allclose(np.diag(fit.cov), [0.3, 0.3], atol=1e-6)
    # With ties: a sure tie adds nothing; an item of a = y, b = x at 50/50 between y and a tie has d-score
    # variance (1/2 - 1/4) / 4 = 1/16, tie-score variance 1/4 and covariance -(1/2)(1/2)/2 = -1/8, which
    # goes to y (its a) and with the opposite sign to x.
    post = np.array([[0, 0, 1], [0.5, 0, 0.5]])
    m = missing_information(np.array([0, 1]), np.array([1, 0]), post, 2, ties="davidson")
    np.testing.assert_allclose(m, [[0.0625, -0.0625, 0.125], [-0.0625, 0.0625, -0.125], [0.125, -0.125, 0.25]])


def test_davidson_ties_saturated_case():
    # 4 wins, 1 loss, 2 ties: Davidson's P(x) : P(y) : P(tie) = e^{d/2} : e^{-d/2} : nu is free to match
    # 4 : 1 : 2 exactly: e^d = 4 (d = ln 4) and nu = 2 e^{-d/2} = 1.
    _ranking, fit = fit_bradley_terry(_comparisons([("x", "y", 4, 1, 2)]), ties="davidson", prior=1e-9)
    np.testing.assert_allclose(fit.theta[0] - fit.theta[1], np.log(4), atol=1e-5)
    assert fit.nu == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(davidson_probabilities(np.array([0.0]), 1.0), [[1 / 3, 1 / 3, 1 / 3]])


def test_prior_keeps_an_unbeaten_system_finite_and_ties_ignored_without_davidson():
    fit = fit_strengths(np.array([0]), np.array([1]), np.array([5.0]), np.array([0.0]), np.array([3.0]), 2,
                        ties="none", prior=0.01)
    assert np.isfinite(fit.theta).all() and fit.theta[0] > 2 and fit.nu == 0.0
    with pytest.raises(ValueError, match="ties must be one of"):
        fit_strengths(np.array([0]), np.array([1]), np.ones(1), np.zeros(1), np.zeros(1), 2, ties="rao")


def _fixture_tables():
    data = json.loads(FIXTURE.read_text())
    rows = data["rows"]  # source, item, left system, right system, winner slot (1 = right), left candidate
    judgments = pa.table({"item_id": [r[1] for r in rows], "source_id": [r[0] for r in rows],
                          "choice": ["B" if r[4] else "A" for r in rows], "swapped": [r[5] == "b" for r in rows]})
    items = {}
    for _, item, left, right, _, cand in rows:
        items[item] = (left, right) if cand == "a" else (right, left)
    items_t = pa.table({"item_id": list(items), "system_a": [v[0] for v in items.values()],
                        "system_b": [v[1] for v in items.values()]})
    return data, rows, judgments, items_t


def _mm_step(p, wins):
    """One MM update of Hunter (2004): p_i = W_i / sum_j n_ij / (p_i + p_j), normalised to sum 1."""
    n = wins + wins.T
    p = wins.sum(axis=1) / (n / (p[:, None] + p[None, :])).sum(axis=0)
    return p / p.sum()


def test_plain_bradley_terry_against_crowdkit():
    # crowdkit_bt.json: a simulated crowd (4 systems, 200 items x 3 judges: three careful, one who always
    # answers "first", one spammer) and crowd-kit 1.4.2's outputs on it, computed once with
    #   bench/.peers-venv/bin/python bench/peers/run_pairwise_peers.py <rows json, per_item false>
    # (BradleyTerry(n_iter=1000, tol=1e-10)). crowd-kit 1.4.2 stops after two MM steps whatever n_iter
    # is: its previous iterate aliases the current one, so the measured change is 0 on the second step.
    # Two MM steps from uniform reproduce its scores exactly; the maximum-likelihood fit (ours) is the
    # MM fixed point and has a higher likelihood.
    data, rows, _, _ = _fixture_tables()
    systems = sorted(data["crowdkit"]["bt"])
    code = {s: i for i, s in enumerate(systems)}
    wins = np.zeros((4, 4))
    for r in rows:
        winner, loser = (r[3], r[2]) if r[4] else (r[2], r[3])
        wins[code[winner], code[loser]] += 1
    crowdkit = np.array([data["crowdkit"]["bt"][s] for s in systems])
    np.testing.assert_allclose(_mm_step(_mm_step(np.full(4, 0.25), wins), wins), crowdkit, atol=1e-9)
    comps = _comparisons([(r[2], r[3], 1 - r[4], r[4], 0) for r in rows])
    ranking, _ = fit_bradley_terry(comps, ties="none", prior=1e-9)
    ours = dict(zip(ranking["system"].to_pylist(), ranking["score"].to_pylist()))
    p = np.array([ours[s] for s in systems])
    np.testing.assert_allclose(_mm_step(p, wins), p, atol=1e-7)
    loglik = lambda q: (wins * np.log(q[:, None] / (q[:, None] + q[None, :]))).sum()
    assert loglik(p) > loglik(crowdkit) + 1e-3


def test_noisy_model_ranks_where_crowdkit_is_misled_and_names_the_biased_and_the_spammer():
    data, _, judgments, items = _fixture_tables()
    truth_order = sorted(data["true_strengths"], key=data["true_strengths"].get, reverse=True)
    ck = data["crowdkit"]
    # crowd-kit's BradleyTerry and NoisyBT both put sys03 above sys02 on this crowd (stored outputs) ...
    for key in ("bt", "noisy_bt"):
        assert sorted(ck[key], key=ck[key].get, reverse=True) != truth_order
    # ... and NoisyBT gives the always-"first" judge ann003 the highest skill of all.
    assert max(ck["noisy_bt_skills"], key=ck["noisy_bt_skills"].get) == "ann003"
    model = PreferenceModel(ties=False).fit(judgments, items)
    assert model.ranking_["system"].to_pylist() == truth_order
    src = {r["source_id"]: r for r in model.sources_.to_pylist()}
    assert src["ann003"]["flag"] == "position_biased" and src["ann003"]["position_bias"] > 0.8
    assert src["ann004"]["flag"] == "spammer"
    assert all(src[a]["flag"] is None and src[a]["reliability"] > 0.7 for a in ("ann000", "ann001", "ann002"))


def test_leaderboard_from_a_snapshot_has_the_consensus_models_intervals(tmp_path: Path):
    """The release's leaderboard sums posteriors per pair in SQL; its intervals must equal the per-item fit's
    (missing information included), not the narrower ones of soft outcomes taken as observed."""
    import duckdb
    import pyarrow.parquet as pq

    from tasks.kinds.pairwise.export import leaderboard

    rng = np.random.default_rng(3)
    n, names = 400, np.array(["s0", "s1", "s2", "s3"])
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(1, 4, n)) % 4
    post = rng.dirichlet([2.0, 1.0, 0.5], n)  # uncertain outcomes: the missing information matters
    pq.write_table(pa.table({"preference": pa.StructArray.from_arrays(
        [pa.array(names[a]), pa.array(names[b]), pa.array(post[:, 0]), pa.array(post[:, 1]), pa.array(post[:, 2])],
        ["system_a", "system_b", "p_a", "p_b", "p_tie"])}), tmp_path / "s.parquet")
    with duckdb.connect() as con:
        board = leaderboard(con, f"read_parquet('{tmp_path / 's.parquet'}')", 0.95)
    per_item = fit_strengths(a, b, post[:, 0], post[:, 1], post[:, 2], 4, missing=missing_information(a, b, post, 4))
    as_observed = fit_strengths(a, b, post[:, 0], post[:, 1], post[:, 2], 4)
    got = dict(zip(board["system"].to_pylist(), np.subtract(board["high"].to_numpy(), board["low"].to_numpy())))
    want = 2 * 1.959964 * np.sqrt(np.diag(per_item.cov)[:4])
    narrow = 2 * 1.959964 * np.sqrt(np.diag(as_observed.cov)[:4])
    for k, name in enumerate(names):
        assert got[name] == pytest.approx(want[k], rel=1e-5)
        assert got[name] > narrow[k] * 1.05
