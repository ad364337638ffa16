"""The segments prelabel facet on hand-made votes: regions of several models fused on the time axis, a clip judged
right at a temporal IoU, per-model precision and recall on gold."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest

from tasks.errors import ConfigError, InputError
from tasks.kinds.segments.options import SegmentOptions
from tasks.kinds.segments.prelabel import FACET, KEYS, as_boxes
from tasks.store import open_store

CFG = SimpleNamespace(answer_options=SegmentOptions(match_iou=0.5))


def _regions(*rs: tuple) -> str:
    return json.dumps([{"start_s": r[0], "end_s": r[1], "label": r[2], **({"score": r[3]} if len(r) > 3 else {})} for r in rs])


def test_regions_become_one_pixel_high_boxes_in_milliseconds() -> None:
    [boxes] = as_boxes(pa.array([_regions((0.25, 1.5, "speech", 0.8))])).to_pylist()
    assert json.loads(boxes) == [{"x": 250.0, "y": 0.0, "w": 1250.0, "h": 1.0, "label": "speech", "score": 0.8}]
    assert as_boxes(pa.array(["[]", None], pa.string())).to_pylist() == ["[]", None]


def test_two_models_regions_fuse_into_one_region_per_event_with_weighted_boundaries() -> None:
    votes = pa.table({
        "item_id": ["c1", "c1", "c2"], "source_id": ["model:a", "model:b", "model:a"], "spoke": [True] * 3,
        "answer": [_regions((0.5, 1.5, "speech", 0.9), (2.0, 2.4, "noise", 0.6)), _regions((0.6, 1.6, "speech", 0.3)), "[]"],
    })
    combined, learned, name = FACET.combine(votes, pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())}),
                                            CFG, item_ids=pa.array(["c1", "c2", "c3"]))
    assert name == "segment_fusion" and set(learned) == {"model:a", "model:b"}
    d = FACET.decide(combined, pa.array(["c1", "c2", "c3"]), ["speech", "noise"])
    c1 = json.loads(d.answer[0].as_py())
    # the two speech regions overlap at IoU 0.82: one event whose boundaries lean to the surer model (0.9 vs 0.3)
    [speech] = [r for r in c1 if r["label"] == "speech"]
    assert 0.5 < speech["start_s"] < 0.55 and 1.5 < speech["end_s"] < 1.55
    assert [r["label"] for r in c1] == ["speech", "noise"]  # sorted by start
    assert d.answer[1].as_py() == "[]" and d.answer[2].as_py() == "[]" and d.confidence[2] == 0.0
    assert list(d.key) == [KEYS[0], KEYS[1], KEYS[1]]
    assert len(json.loads(d.detail[0].as_py())) == 2


def test_a_clip_is_right_when_every_region_matches_the_reference_at_the_iou() -> None:
    votes = pa.table({"item_id": ["a", "b", "c"], "source_id": ["model:m"] * 3, "spoke": [True] * 3,
                      "answer": [_regions((0.0, 1.0, "speech", 0.9)), _regions((0.0, 1.0, "speech", 0.9)), _regions((0.0, 1.0, "noise", 0.9))]})
    combined, _, _ = FACET.combine(votes, pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())}), CFG)
    d = FACET.decide(combined, pa.array(["a", "b", "c"]), [])
    # IoU 0.9 (right), IoU 0.25 (wrong), the right time with the wrong label (wrong)
    ref = pa.array([_regions((0.1, 1.0, "speech")), _regions((0.6, 1.6, "speech")), _regions((0.0, 1.0, "speech"))])
    assert FACET.score(d, ref).tolist() == [True, False, False]


def test_lf_report_counts_region_precision_and_recall_on_gold(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as con:
        con.execute("INSERT INTO projects (name, config_hash, config) VALUES ('p', 'h', ?)", [json.dumps({"answer": {"match_iou": 0.5}})])
        con.execute("INSERT INTO items (item_id, kind, source) SELECT 'c' || range, 'audio', 's' FROM range(4)")
        con.execute("INSERT INTO sources (source_id, kind, name, version) VALUES ('model:asr', 'model', 'asr', '1')")
        con.execute("INSERT INTO gold (item_id, answer, origin) VALUES ('c0', ?::JSON, 'file'), ('c1', ?::JSON, 'file')",
                    [_regions((0.2, 1.0, "speech"), (1.4, 1.8, "noise")), _regions((0.3, 1.2, "speech"))])
        for item, ans in (("c0", _regions((0.25, 1.0, "speech", 0.8), (1.4, 1.8, "speech", 0.4))), ("c1", _regions((0.3, 1.1, "speech", 0.7))),
                          ("c2", _regions((0.0, 0.5, "speech", 0.5)))):
            con.execute("INSERT INTO votes (vote_id, item_id, source_id, source_kind, source_version, answer) VALUES (?, ?, 'model:asr', 'model', '1', ?::JSON)",
                        [item, item, ans])
        [row] = FACET.lf_summary(con, ["speech", "noise"], {"model:asr": 0.6}, ("model",))
    # on gold: 3 predicted regions, 2 right (the noise called speech is not); 3 gold regions, 2 found
    assert row["n_gold"] == 3 and row["gold_correct"] == 2 and row["gold_accuracy"] == pytest.approx(0.6667, abs=1e-4)
    assert row["more"] == {"gold regions": 3, "recall": pytest.approx(0.6667, abs=1e-4), "F1": pytest.approx(0.6667, abs=1e-4)}
    assert row["coverage"] == 0.75 and row["learned_accuracy"] == 0.6


def test_impossible_regions_are_refused_before_storing_and_segments_projects_have_no_lfs() -> None:
    with pytest.raises(InputError, match="a region of item c1 is \\[1.0, 0.5\\] s"):
        FACET.check_predictions(pa.table({"item_id": ["c1"], "answer": [_regions((1.0, 0.5, "speech", 0.5))]}), "model 'm' predictions")
    cfg = SimpleNamespace(prelabel=SimpleNamespace(labeling_functions=[SimpleNamespace(name="loud")]))
    with pytest.raises(ConfigError, match="a segments project has no labeling functions"):
        FACET.lf_specs(cfg)
