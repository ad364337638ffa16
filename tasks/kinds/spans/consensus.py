"""Spans: the consensus facet (see tasks/kinds/protocol.py, consolidation).

A thin adapter: the consensus stage hands it Arrow tables read from the store and the project config;
the work is the pure functions of `consolidate` (span-level Dawid–Skene, gold scores, bans, the
resolution rule) and `agreement` (pairwise span F1, token-level Krippendorff's alpha).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from .agreement import krippendorff_alpha_bio, pairwise_span_f1
from .consolidate import SpanConsensusSettings, SpanConsolidation, consolidate_spans
from .options import SpanOptions

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET"]


class _SpanConsensus:
    def settings(self, cfg: ProjectConfig) -> SpanConsensusSettings:
        """The project's consolidation settings: entity types, the resolution rule (the same numbers as
        classification: consensus.target_confidence, overlap.initial as the minimum, overlap.max), the
        ban rule (gold.ban_below on the F1 upper bound, gold.min_answers_for_ban) and `[answer]` overlap."""
        opts: SpanOptions = cfg.answer_options
        return SpanConsensusSettings(
            labels=tuple(cfg.labels), target_confidence=cfg.consensus.target_confidence,
            max_overlap=cfg.overlap.max, min_votes=min(cfg.overlap.initial, cfg.overlap.max),
            allow_overlap=opts.allow_overlap, ban_below=cfg.gold.ban_below,
            min_answers_for_ban=cfg.gold.min_answers_for_ban, max_iter=min(cfg.consensus.max_iter, 100))

    def consolidate(self, votes: pa.Table, gold: pa.Table | None, cfg: ProjectConfig,
                    items: pa.Table | None = None) -> SpanConsolidation:
        """CONSENSUS: votes (item_id, source_id, source_kind, answer: SPANS_TYPE; null = abstain) and gold
        (item_id, answer) -> per-item spans, span and item confidences, n_votes, decision; per-source
        learned reliability, gold precision/recall/F1 with Wilson intervals, banned. `items` (item_id,
        payload), when given, lets each text's length set how telling an agreement is."""
        return consolidate_spans(votes, self.settings(cfg), gold, texts=items)

    def agreement(self, votes: pa.Table, items: pa.Table, cfg: ProjectConfig) -> dict:
        """CONSENSUS (report, status): pairwise span F1 per pair and type, and token-level alpha on BIO
        tags; `items` has item_id and payload (the text) of the voted items."""
        opts: SpanOptions = cfg.answer_options
        human = votes.filter(pc.equal(votes["source_kind"], "human")) if "source_kind" in votes.column_names else votes
        return {"pairs": pairwise_span_f1(human, cfg.labels),
                "alpha": krippendorff_alpha_bio(human, items, cfg.labels, opts.tokenizer)}


FACET = _SpanConsensus()
