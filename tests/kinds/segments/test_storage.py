"""Segments answers: JSON both ways, every reason a region is refused in DuckDB (many answers) and in Python
(one answer) with the field at fault, and RTTM gold read as answers."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pytest

from tasks.errors import InputError
from tasks.kinds import get
from tasks.kinds.protocol import AnswerError
from tasks.kinds.segments.intervals import SEGMENTS_TYPE, check_segments, clip_duration
from tasks.kinds.segments.rttm import read_rttm

STORAGE = get("segments").storage
LABELS = ["alice", "bob", "music"]


def _items() -> pa.Table:
    return pa.table({"item_id": ["clip", "nodur", "bad-meta"],
                     "payload": [None, None, None],
                     "metadata": ['{"file":"a.wav","duration_s":10.0,"sample_rate":16000}', '{"file":"b.wav"}', "not json"]})


def _check(cfg, rows) -> list[dict]:
    answers = pa.table({"item_id": [r[0] for r in rows], "source_id": [r[1] for r in rows],
                        "answer": [r[2] if isinstance(r[2], str) or r[2] is None else json.dumps(r[2]) for r in rows]})
    return STORAGE.validate(answers, _items(), cfg).to_pylist()


def _seg(start=1.0, end=2.0, label="alice", **kw) -> dict:
    return {"start_s": start, "end_s": end, "label": label, **kw}


@pytest.fixture
def cfg(make_project):
    return make_project(task_kind="segments", data_kind="audio", labels=LABELS)


def test_json_both_ways_is_canonical():
    text = ('[{"start_s": 2.00049, "end_s": 3, "label": "bob"}, {"start_s": 0.5, "end_s": 1.25, '
            '"label": "alice", "text": "hi", "score": 0.9}]')
    arr = STORAGE.from_json(pa.array([text, "[]", None]))
    assert arr.type == SEGMENTS_TYPE
    # sorted by start, rounded to the millisecond, score dropped (not part of the type), text kept
    assert arr.to_pylist()[0] == [{"start_s": 0.5, "end_s": 1.25, "label": "alice", "text": "hi"},
                                  {"start_s": 2.0, "end_s": 3.0, "label": "bob", "text": None}]
    back = STORAGE.to_json(arr).to_pylist()
    assert back == ['[{"start_s":0.5,"end_s":1.25,"label":"alice","text":"hi"},{"start_s":2.0,"end_s":3.0,"label":"bob"}]',
                    "[]", None]
    with pytest.raises(InputError, match="answer 1: .* is not a list of regions"):
        STORAGE.from_json(pa.array(["[]", '[{"start_s": "1", "end_s": 2, "label": "bob"}]']))


def test_valid_answers_have_no_problems(cfg):
    ok = [("clip", "human:a", [_seg(), _seg(2.0, 3.5, "bob")]),  # touching regions do not overlap
          ("clip", None, []),
          ("nodur", "human:a", []),  # "no regions" needs no duration
          ("clip", "model:asr", [_seg(0, 10, "music", score=0.4)]),
          ("clip", "human:b", [_seg(-0.04, 10.04, "music", text="la la")])]  # within the edge tolerance
    assert _check(cfg, ok) == []


@pytest.mark.parametrize(("answer", "field", "reason", "says"), [
    (None, "answer", "missing_answer", "missing"),
    ("[{", "answer", "malformed_json", "not valid JSON"),
    ('{"start_s": 1}', "answer", "not_a_list", "not a list of regions"),
    ([_seg(), 3], "answer[1]", "not_a_segment", "not a region object"),
    ([{"end_s": 2, "label": "bob"}], "answer[0].start_s", "missing_field", "has no start_s"),
    ([_seg(), _seg(4, 5), _seg(6, "NaN")], "answer[2].end_s", "not_a_number", "not a finite number"),
    ([_seg(start="1")], "answer[0].start_s", "not_a_number", "not a finite number"),
    ([_seg(end=1e400)], "answer[0].end_s", "not_a_number", "not a finite number"),
    ([_seg(label=7)], "answer[0].label", "label_not_text", "not a text label"),
    ([_seg(3.0, 2.0)], "answer[0].end_s", "empty_or_reversed", "ends at 2 s, not after its start 3 s"),
    ([_seg(2.0, 2.0)], "answer[0].end_s", "empty_or_reversed", "not after its start"),
    ([_seg(-0.5, 1.0)], "answer[0].start_s", "segment_outside_clip", "spans -0.5 to 1 s, outside the clip's 0 to 10 s"),
    ([_seg(9.0, 10.2)], "answer[0].end_s", "segment_outside_clip", "outside the clip's 0 to 10 s"),
    ([_seg(label="carol")], "answer[0].label", "unknown_label", "not in the label set"),
    ([_seg(text=5)], "answer[0].text", "text_not_text", "not text"),
    ([_seg(score=1.5)], "answer[0].score", "score_out_of_range", "not a probability"),
    ([_seg(0, 3), _seg(1, 2, "bob"), _seg(2.5, 4, "bob")], "answer[1].start_s", "overlap_not_allowed",
     "starts inside answer[0] (which ends at 3 s)"),
])
def test_each_bad_region_is_named(cfg, answer, field, reason, says):
    problems = _check(cfg, [("clip", "human:a", answer)])
    assert problems[0]["field"] == field and problems[0]["reason"] == reason
    assert says in problems[0]["detail"] and problems[0]["detail"].startswith('item "clip", source "human:a": ')
    # The one-answer check refuses the same answer with the same reason and field.
    raw = json.loads(answer) if isinstance(answer, str) and answer != "[{" else answer
    if answer != "[{" and not (isinstance(raw, list) and any(isinstance(r, dict) and isinstance(r.get("end_s"), float)
                                                              and math.isinf(r["end_s"]) for r in raw)):
        with pytest.raises(AnswerError) as e:
            check_segments(raw, LABELS, 10.0)
        assert (e.value.code, e.value.field) == (reason, field)


def test_every_overlap_is_reported_and_the_other_region_named(cfg):
    problems = _check(cfg, [("clip", "human:a", [_seg(0, 3), _seg(1, 2, "bob"), _seg(2.5, 4, "bob")])])
    assert [(p["field"], p["reason"]) for p in problems] == [("answer[1].start_s", "overlap_not_allowed"),
                                                            ("answer[2].start_s", "overlap_not_allowed")]


def test_clip_facts_and_options(make_project):
    problems = _check(make_project(task_kind="segments", data_kind="audio", labels=LABELS), [
        ("nodur", "human:a", [_seg()]), ("bad-meta", "human:a", [_seg()]), ("ghost", "human:a", [])])
    assert [(p["row"], p["field"], p["reason"]) for p in problems] == [
        (0, "answer", "duration_unknown"), (1, "answer", "duration_unknown"), (2, "answer", "unknown_item")]
    both = make_project(task_kind="segments", data_kind="audio", labels=LABELS,
                        answer={"allow_overlap": True, "with_text": True})
    problems = _check(both, [("clip", "human:a", [_seg(0, 3, text="hello"), _seg(1, 2, "bob", text="  ")])])
    assert [(p["field"], p["reason"]) for p in problems] == [("answer[1].text", "missing_text")]
    with pytest.raises(AnswerError) as e:
        check_segments([_seg(0, 3, text="hello"), _seg(1, 2, "bob")], LABELS, 10.0, allow_overlap=True, with_text=True)
    assert (e.value.code, e.value.field) == ("missing_text", "answer[1].text")
    with pytest.raises(AnswerError, match="duration is unknown"):
        check_segments([_seg()], LABELS, None, duration_required=True)
    assert clip_duration('{"duration_s": 2.5}') == 2.5 and clip_duration({"duration_s": "2"}) is None


def test_check_segments_returns_the_canonical_answer():
    got = check_segments([_seg(5.00049, 6, "bob"), _seg(0.1, 1, text="x", extra=1)], LABELS, 10.0)
    assert got == [{"start_s": 0.1, "end_s": 1.0, "label": "alice", "text": "x"},
                   {"start_s": 5.0, "end_s": 6.0, "label": "bob"}]


def test_rttm_gold_is_read_per_clip_and_bad_lines_refused(tmp_path):
    path = tmp_path / "gold.rttm"
    path.write_text(";; a comment\n"
                    "SPEAKER a.wav 1 0.50 1.25 <NA> <NA> alice <NA> <NA>\n"
                    "SPEAKER a.wav 1 0.00 0.40 <NA> <NA> bob <NA> <NA>\n"
                    "SPKR-INFO a.wav 1 <NA> <NA> <NA> unknown alice <NA> <NA>\n"
                    "SPEAKER b.wav 1 x 1.0 <NA> <NA> bob <NA> <NA>\n"
                    "SPEAKER b.wav 1 2.0 1.0 <NA> <NA> bob <NA> <NA>\n"
                    "SPEAKER c.wav 1 1.0 0 <NA> <NA> bob <NA> <NA>\n", encoding="utf-8")
    got = read_rttm(path)
    assert got.key_field == "file"
    assert got.rows.to_pylist() == [{"source_row": 2, "where": 'file id "a.wav"', "key": "a.wav",
                                     "answer": '[{"start_s":0.0,"end_s":0.4,"label":"bob"},'
                                               '{"start_s":0.5,"end_s":1.75,"label":"alice"}]'}]
    assert [(p["source_row"], p["field"], p["reason"]) for p in got.problems.to_pylist()] == [
        (5, "onset", "not_a_number"), (7, "duration", "empty_or_reversed"), (5, "file", "refused_part")]
    assert STORAGE.read_answer_file(path, "auto", None) is not None
    table = tmp_path / "gold.csv"
    table.write_text("file,answer\n", encoding="utf-8")
    assert STORAGE.read_answer_file(table, "auto", None) is None
