"""Transcripts: the export facet (see tasks/kinds/protocol.py, export).

The snapshot's answer column is `transcript`, a struct `{text, words, duration_s}`: the resolved text as
consensus stored it, the voted words with their confidences (the per-word lineage; an answer stored without
them, a gold or adjudicated one or an auto-accepted draft, has none), and the clip's duration in seconds
recorded at ingest (`items.metadata.duration_s`; null for non-audio items). The item's confidence, method,
sources and vote counts are the generic lineage columns beside it.

Formats: `speech_manifest` (`formats/manifest.jsonl`: one line per clip with `audio_filepath`, `duration`,
`text`, the manifest speech toolkits such as NeMo load; the path is the local file the item's URI names)
and `transcript_parquet` (`formats/transcripts.parquet`: item id, text, normalised text by the project's
rule, confidence, word confidences, method, sources). The snapshot itself is the Parquet of record.

Release gate: per row, a transcript present, not empty unless `allow_empty`, at most `max_chars`
characters, word confidences in [0, 1]; per candidate, the WER of the exported transcripts of reference
items (gold answers and audited auto-accepts: their human transcript) under `max_audit_wer`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..part_checks import per_part
from ..protocol import ExportWriter, FactCheck, GoldMatch, RowCheck
from .normalise import normaliser
from .options import TranscriptOptions
from .wer import edit_counts

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["EXPORT_TRANSCRIPT_TYPE", "FACET", "MANIFEST", "PARQUET", "sql_normal", "transcript_sql",
           "write_manifest", "write_transcript_parquet"]

EXPORT_TRANSCRIPT_TYPE = pa.struct([
    ("text", pa.string()),
    ("words", pa.list_(pa.struct([("word", pa.string()), ("confidence", pa.float64())]))),
    ("duration_s", pa.float64()),
])
_DUCK = "STRUCT(text VARCHAR, words STRUCT(word VARCHAR, confidence DOUBLE)[])"
MANIFEST = "manifest.jsonl"
PARQUET = "transcripts.parquet"
_FORMATS_DIR = "formats"


def transcript_sql(json_text: str, metadata: str) -> str:
    """Stored transcript JSON and the item's metadata as the snapshot's struct (NULL when not a transcript)."""
    typed = f"TRY_CAST(CASE WHEN json_valid({json_text}) THEN {json_text}::JSON END AS {_DUCK})"
    duration = (f"CASE WHEN json_type({metadata}::VARCHAR, '$.duration_s') IN ('UBIGINT', 'BIGINT', 'DOUBLE')"
                f" THEN TRY_CAST(json_extract({metadata}::VARCHAR, '$.duration_s') AS DOUBLE) END")
    return (f"CASE WHEN {typed}.text IS NOT NULL THEN {{'text': {typed}.text, 'words': {typed}.words,"
            f" 'duration_s': {duration}}} END")


def sql_normal(text: str) -> str:
    """The comparison rule's case, punctuation and space steps in SQL (numbers are compared by `max_audit_wer`,
    which applies the whole rule): what the gate's gold match and the diff compare."""
    spaced = f"regexp_replace(lower(nfc_normalize({text})), '[^[:alnum:][:space:]'']', ' ', 'g')"
    return f"trim(regexp_replace({spaced}, '[[:space:]]+', ' ', 'g'))"


def _files(src: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in src) + "]"


def _target(out_dir: Path, name: str) -> Path:
    path = out_dir / _FORMATS_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_manifest(src: Sequence[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """`formats/manifest.jsonl`: `{"audio_filepath", "duration", "text"}` per clip, in file order (one COPY)."""
    path = _target(out_dir, MANIFEST)
    with duckdb.connect(config={"preserve_insertion_order": "true"}) as con:
        con.execute(f"COPY (SELECT url_decode(regexp_replace(uri, '^file://', '')) AS audio_filepath,"
                    f" transcript.duration_s AS duration, transcript.text AS text FROM read_parquet({_files(src)}))"
                    f" TO '{str(path).replace(chr(39), chr(39) * 2)}' (FORMAT json)").fetchall()
    return [path]


def write_transcript_parquet(src: Sequence[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """`formats/transcripts.parquet`: item id, text, normalised text, confidence, word confidences and lineage;
    streamed batch by batch (the normalised text is the project's rule, applied column-wise)."""
    norm = normaliser(_options(cfg))
    path = _target(out_dir, PARQUET)
    schema = pa.schema([("item_id", pa.string()), ("text", pa.string()), ("normalised", pa.string()),
                        ("confidence", pa.float64()), ("words", pa.list_(pa.string())),
                        ("word_confidence", pa.list_(pa.float64())), ("method", pa.string()),
                        ("sources", pa.list_(pa.string())), ("duration_s", pa.float64())])
    with duckdb.connect(config={"preserve_insertion_order": "true"}) as con, pq.ParquetWriter(path, schema) as out:
        reader = con.sql(f"SELECT item_id, transcript.text AS text, confidence,"
                         f" list_transform(transcript.words, lambda w: w.word) AS words,"
                         f" list_transform(transcript.words, lambda w: w.confidence) AS word_confidence,"
                         f" method, sources, transcript.duration_s AS duration_s FROM read_parquet({_files(src)})"
                         ).fetch_arrow_reader(50_000)
        for batch in reader:
            b = pa.Table.from_batches([batch])
            b = b.add_column(2, "normalised", norm.normalise(b["text"]))
            out.write_table(b.select(schema.names).cast(schema))
    return [path]


def _options(cfg: Any) -> TranscriptOptions:
    opts = getattr(cfg, "answer_options", None)
    return opts if isinstance(opts, TranscriptOptions) else TranscriptOptions.model_validate(dict(getattr(cfg, "answer", None) or {}))


def reference_pairs(con: Any, src: str) -> list[tuple[str, str, str, str]]:
    """(item, exported text, reference text, what the reference is) for every exported transcript with a human
    reference the export did not take as its answer: gold answers (rows not exported as gold), and the human
    transcripts of audited auto-accepts (prelabels routed to 'audit')."""
    def has(table: str) -> bool:
        return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]).fetchone()[0])

    parts = []
    if has("gold"):
        parts.append(f"SELECT c.item_id, c.transcript.text AS exported, g.answer::VARCHAR::JSON ->> '$.text' AS reference,"
                     f" 'gold' AS what FROM {src} c JOIN gold g ON g.item_id = c.item_id"
                     f" WHERE c.method <> 'gold' AND g.answer IS NOT NULL AND json_valid(g.answer::VARCHAR)")
    if has("prelabels") and has("votes"):
        parts.append(f"SELECT c.item_id, c.transcript.text, arg_max(v.answer::VARCHAR::JSON ->> '$.text', v.source_id),"
                     f" 'audit' FROM {src} c JOIN prelabels p ON p.item_id = c.item_id AND p.route = 'audit'"
                     f" JOIN votes v ON v.item_id = c.item_id AND v.source_kind = 'human' AND v.answer IS NOT NULL"
                     f" AND json_valid(v.answer::VARCHAR) WHERE c.method = 'auto' GROUP BY c.item_id, c.transcript.text")
    if not parts:
        return []
    rows = con.execute(" UNION ALL ".join(f"({p})" for p in parts) + " ORDER BY 1").fetchall()
    return [r for r in rows if r[2] is not None]


def wer_check(con: Any, src: str, cfg: ProjectConfig) -> FactCheck:
    """The pooled WER of exported transcripts against their human references, at most `max_audit_wer`."""
    opts = _options(cfg)
    limit = opts.max_audit_wer
    description = f"word error rate of exported transcripts against gold and audited ones at most {limit:.0%}"
    try:
        pairs = reference_pairs(con, src)
    except duckdb.Error:
        pairs = []
    if not pairs:
        return FactCheck("max_audit_wer", description, None, max_value=limit, threshold=limit)
    norm = normaliser(opts)
    exported = norm.normalise(pa.array([p[1] or "" for p in pairs], pa.string())).to_pylist()
    reference = norm.normalise(pa.array([p[2] for p in pairs], pa.string())).to_pylist()
    counts = edit_counts(reference, exported)
    errors = counts[:, 1:].sum(axis=1)
    words = counts[:, :3].sum(axis=1)
    observed = float(errors.sum() / max(int(words.sum()), 1))
    worst = sorted(range(len(pairs)), key=lambda k: (-int(errors[k]), pairs[k][0]))[:10]
    examples = [{"item_id": pairs[k][0], "reference": pairs[k][3], "exported": pairs[k][1], "reference_text": pairs[k][2],
                 "errors": int(errors[k]), "reference_words": int(words[k])} for k in worst if errors[k]]
    return FactCheck("max_audit_wer", description, round(observed, 6), max_value=limit, threshold=limit,
                     examples=examples if observed > limit else ())


class _TranscriptExport:
    column = "transcript"

    def select_sql(self, cfg: ProjectConfig, alias: str) -> str:
        return f"{transcript_sql(f'{alias}.answer::VARCHAR', 'i.metadata')} AS transcript"

    def arrow_type(self, cfg: ProjectConfig) -> pa.DataType:
        return EXPORT_TRANSCRIPT_TYPE

    def formats(self, cfg: ProjectConfig) -> Mapping[str, ExportWriter]:
        return {"speech_manifest": write_manifest, "transcript_parquet": write_transcript_parquet}

    def manifest_section(self, cfg: ProjectConfig) -> dict[str, Any]:
        opts = _options(cfg)
        return {"comparison": {"lowercase": opts.lowercase, "strip_punctuation": opts.strip_punctuation,
                               "numbers": opts.numbers, "unicode": "NFC"},
                "words": "the consolidated normalised words with their posterior confidence; absent where the "
                         "answer was taken as given (gold, adjudicated, auto-accepted draft)",
                "speech_manifest": {"file": f"{_FORMATS_DIR}/{MANIFEST}", "keys": ["audio_filepath", "duration", "text"]},
                "max_audit_wer": opts.max_audit_wer}

    def label_studio_config(self, cfg: ProjectConfig) -> str:
        from .queue import FACET as queue  # the config the queue pushes tasks into
        return queue.label_studio_config(cfg)

    def label_studio_result_sql(self, cfg: ProjectConfig, data_key: str) -> str:
        # A TextArea result; the control tag is `label` (the protocol's name for every kind's control tag).
        return (f"CASE WHEN transcript IS NULL THEN [] ELSE [{{'from_name': 'label', 'to_name': '{data_key}',"
                " 'type': 'textarea', 'value': {'text': [transcript.text]}}] END")

    def row_checks(self, cfg: ProjectConfig) -> list[RowCheck]:
        opts = _options(cfg)
        present = RowCheck("transcript_present", "every row has a transcript ({\"text\": ...})",
                           "transcript IS NULL OR transcript.text IS NULL", "ExpectColumnValuesToNotBeNull",
                           {"column": "transcript"})
        checks = [present]
        if not opts.allow_empty:
            checks.append(RowCheck(
                "transcript_not_empty", "no transcript is empty ([answer] allow_empty = false)",
                "trim(transcript.text) = ''", "ExpectColumnValuesToBeNull", {"column": "bad_empty_transcript"},
                frame_columns={"bad_empty_transcript": "CASE WHEN trim(transcript.text) = '' THEN 'the transcript is empty' END"}))
        checks.append(RowCheck(
            "transcript_length", f"every transcript has at most {opts.max_chars} characters",
            f"length(transcript.text) > {int(opts.max_chars)}", "ExpectColumnValuesToBeNull", {"column": "bad_transcript_length"},
            frame_columns={"bad_transcript_length": f"CASE WHEN length(transcript.text) > {int(opts.max_chars)} THEN"
                                                    f" length(transcript.text) || ' characters' END"}))
        checks.append(per_part("transcript.words", "word_confidence_in_range",
                               "every word's confidence (where recorded) is in [0, 1]",
                               "transcript.words[k + 1].confidence < 0 OR transcript.words[k + 1].confidence > 1"
                               " OR isnan(transcript.words[k + 1].confidence)",
                               "'.confidence = ' || transcript.words[k + 1].confidence || ' is outside [0, 1]'"))
        return checks

    def fact_checks(self, con: Any, src: str, cfg: ProjectConfig, reference: Mapping[str, Any] | None) -> list[FactCheck]:
        return [wer_check(con, src, cfg)]

    def distribution_sql(self, cfg: ProjectConfig, src: str) -> str:
        # No label set: the distribution the label shift watches is empty vs non-empty transcripts.
        return (f"SELECT CASE WHEN coalesce(trim(transcript.text), '') = '' THEN '(empty)' ELSE '(speech)' END AS l"
                f" FROM {src}")

    def gold_match(self, cfg: ProjectConfig) -> GoldMatch:
        exported = sql_normal("c.transcript.text")
        gold = sql_normal("(g.answer::VARCHAR::JSON ->> '$.text')")
        return GoldMatch(present="g.answer IS NOT NULL AND json_valid(g.answer::VARCHAR)", correct=f"{exported} = {gold}",
                         exported="c.transcript.text", gold="g.answer::VARCHAR::JSON ->> '$.text'")

    def diff_key_sql(self) -> str:
        return sql_normal("transcript.text")

    def diff_units_sql(self) -> str | None:
        return None

    def evaluate(self, con: Any, cfg: ProjectConfig, truth: pa.Table) -> dict[str, Any]:
        """WER of the resolved transcripts against the truth file's (lower is better), overall and per method."""
        norm = normaliser(_options(cfg))
        con.register("_truth", truth)
        rows = con.execute("SELECT t.item_id, t.truth, l.answer::VARCHAR, l.method, l.decision FROM _truth t"
                           " LEFT JOIN labels l USING (item_id) ORDER BY t.item_id").fetchall()
        con.unregister("_truth")

        def text(v: str | None) -> str:
            try:
                value = json.loads(v) if v is not None else None
            except ValueError:
                return v or ""
            return str(value.get("text") or "") if isinstance(value, dict) else ("" if value is None else str(value))

        resolved = [r for r in rows if r[2] is not None and r[4] == "resolved"]
        out: dict[str, Any] = {"metric": "wer", "items_with_truth": len(rows), "resolved_with_truth": len(resolved),
                               "titles": {"wer": "WER"}}

        def pooled(sub) -> float | None:
            if not sub:
                return None
            ref = norm.normalise(pa.array([text(r[1]) for r in sub], pa.string())).to_pylist()
            hyp = norm.normalise(pa.array([text(r[2]) for r in sub], pa.string())).to_pylist()
            c = edit_counts(ref, hyp)
            return round(float(c[:, 1:].sum() / max(int(c[:, :3].sum()), 1)), 6)

        out["wer"] = pooled(resolved)
        by: dict[str, list] = {}
        for r in rows:
            by.setdefault(r[3] if r[2] is not None and r[4] == "resolved" else "(unresolved)", []).append(r)
        out["by_method"] = {m: {"items": len(v), "wer": pooled([r for r in v if r[2] is not None]) if m != "(unresolved)" else None}
                            for m, v in sorted(by.items())}
        return out


FACET = _TranscriptExport()
