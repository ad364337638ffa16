"""Transcripts: which recognisers' drafts people are shown, from each one's word error rate on gold.

A draft pre-fills the transcript box, and people edit it rather than start over: the words it gets right are
typing saved, the wrong words they overlook stay in the transcript. Below some accuracy the second outweighs
the first (the speech-transcripts demo: drafts at WER about 0.8 made released transcripts worse than typing
from scratch). So a recogniser's drafts are shown only when its WER measured on gold clips, pooled over
their words, is at most `[answer] max_draft_wer`; a recogniser not measured yet (no gold clip it
transcribed) is withheld until gold says how good it is. Its votes still count everywhere else (the
pre-label, calibration, auto-accept); only the suggestion on the page is withheld.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .drafts import compare_rule, normalised_tokens, word_errors

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["GoldWer", "gold_wer", "measure", "withheld", "withheld_drafts"]


@dataclass(frozen=True)
class GoldWer:
    """One recogniser's transcripts of gold clips, measured after the project's comparison rule."""

    clips: int
    words: int
    """Words of the gold transcripts (WER's denominator)."""
    errors: int
    """Substitutions + deletions + insertions over all those clips."""
    exact: int
    """Clips transcribed exactly right."""

    @property
    def wer(self) -> float | None:
        return self.errors / self.words if self.words else None


def measure(pairs: list[tuple[str | None, str | None]], options: Any) -> GoldWer:
    """(draft text, gold text) pairs of one recogniser as its `GoldWer` (`options`: the `[answer]` options)."""
    rule = compare_rule(options)
    hyp = [t or [] for t in normalised_tokens(pa.array([p[0] for p in pairs], pa.string()), rule)]  # no text: no words
    ref = [t or [] for t in normalised_tokens(pa.array([p[1] for p in pairs], pa.string()), rule)]
    return GoldWer(len(pairs), sum(len(r) for r in ref), sum(word_errors(h, r) for h, r in zip(hyp, ref)),
                   sum(h == r for h, r in zip(hyp, ref)))


def gold_wer(con: Any, source_id: str, options: Any) -> GoldWer:
    """The recogniser's current-version transcripts of gold clips, measured."""
    pairs = con.execute(
        "SELECT v.answer->>'text', g.answer->>'text' FROM votes v JOIN sources s USING (source_id) JOIN gold g USING (item_id)"
        " WHERE v.source_id = ? AND v.source_version IS NOT DISTINCT FROM s.version AND v.answer IS NOT NULL AND g.answer IS NOT NULL",
        [source_id]).fetchall()
    return measure(pairs, options)


def withheld(measured: dict[str, GoldWer], max_wer: float) -> dict[str, str]:
    """The recognisers whose drafts are not shown, each with the reason, from their measured WER on gold."""
    out = {}
    for sid, m in sorted(measured.items()):
        if m.wer is None:
            out[sid] = f"{sid}: no gold clip transcribed yet, so its WER is unknown (drafts need WER <= max_draft_wer {max_wer:g})"
        elif m.wer > max_wer:
            out[sid] = f"{sid}: WER {m.wer:.3f} on {m.clips} gold clips is above max_draft_wer {max_wer:g}"
    return out


def withheld_drafts(con: Any, cfg: ProjectConfig) -> dict[str, str]:
    """The queue facet's `withheld_suggestions`: every machine source of the project, measured on gold and gated."""
    sources = [r[0] for r in con.execute("SELECT source_id FROM sources WHERE kind IN ('model', 'lf') ORDER BY 1").fetchall()]
    opts = cfg.answer_options
    return withheld({sid: gold_wer(con, sid, opts) for sid in sources}, opts.max_draft_wer)
