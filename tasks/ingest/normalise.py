"""Pure core of ingest: raw source batches in, content-addressed items and explained rejects out.

The item id is md5 over (project, data kind, normalised content): the same text or the same media
bytes ingested from any file, any number of times, maps to one id, and two projects sharing a
database never collide. Text is normalised by trimming and Unicode NFC so invisible differences
do not create duplicates.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["ITEM_SCHEMA", "QUARANTINE_SCHEMA", "item_id_sql", "normalise_media", "normalise_text"]

ITEM_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("kind", pa.string()),
        ("payload", pa.string()),
        ("uri", pa.string()),
        ("checksum", pa.string()),
        ("metadata", pa.string()),
        ("source", pa.string()),
        ("source_row", pa.int64()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("source_row", pa.int64()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("raw", pa.string()),
    ]
)


def item_id_sql(project: str, kind: str, content_expr: str) -> str:
    """SQL for the content-addressed id; ingest and gold import must agree on it, so it lives here."""
    scope = f"{project}\x1f{kind}\x1f".replace("'", "''")
    return f"md5('{scope}' || {content_expr})"


def normalise_text(raw: pa.Table, *, project: str, source: str, text_field: str, max_bytes: int) -> tuple[pa.Table, pa.Table]:
    """Split a uniform raw batch (see readers.RAW_SCHEMA) into items and quarantined rows, in one pass."""
    src = source.replace("'", "''")
    fld = text_field.replace("'", "''")
    con = duckdb.connect()
    try:
        con.register("raw", raw)
        out = con.sql(
            f"""
            WITH norm AS (
                SELECT source_row, problem, metadata, payload AS original,
                       nfc_normalize(trim(payload)) AS payload FROM raw),
            judged AS (
                SELECT *, CASE WHEN problem IS NOT NULL THEN problem
                               WHEN payload IS NULL THEN 'missing_payload'
                               WHEN payload = '' THEN 'empty_payload'
                               WHEN strlen(payload) > {int(max_bytes)} THEN 'payload_too_large' END AS reason
                FROM norm)
            SELECT CASE WHEN reason IS NULL THEN {item_id_sql(project, 'text', 'payload')} END AS item_id,
                   'text' AS kind, payload, NULL::VARCHAR AS uri, NULL::VARCHAR AS checksum, metadata,
                   '{src}' AS source, source_row, reason,
                   CASE reason
                     WHEN 'payload_not_text' THEN 'field ''{fld}'' holds an object or list, not text'
                     WHEN 'invalid_encoding' THEN 'field ''{fld}'' holds bytes that are not UTF-8 text'
                     WHEN 'missing_payload' THEN 'field ''{fld}'' is missing or null'
                     WHEN 'empty_payload' THEN 'field ''{fld}'' is empty after trimming'
                     WHEN 'payload_too_large' THEN strlen(payload)::VARCHAR || ' bytes > ingest.max_payload_bytes={int(max_bytes)}'
                   END AS detail,
                   CASE WHEN reason IS NOT NULL THEN left(coalesce(original, metadata), 500) END AS raw
            FROM judged
            """
        ).to_arrow_table()
    finally:
        con.close()
    bad = pc.is_valid(out.column("reason"))
    items = out.filter(pc.invert(bad)).select(ITEM_SCHEMA.names).cast(ITEM_SCHEMA)
    rejects = (
        out.filter(bad)
        .select(["source", "source_row", "reason", "detail", "raw"])
        .add_column(2, "field", pa.array([text_field] * int(pc.sum(bad).as_py() or 0), pa.string()))
        .cast(QUARANTINE_SCHEMA)
    )
    return items, rejects


def normalise_media(media: pa.Table, *, project: str, kind: str, source: str) -> pa.Table:
    """Items for media (or text) files already read by tasks.ingest.media; ids hash the content."""
    con = duckdb.connect()
    try:
        con.register("media", media)
        src = source.replace("'", "''")
        content = "checksum" if kind != "text" else "nfc_normalize(trim(payload))"
        return con.sql(
            f"SELECT {item_id_sql(project, kind, content)} AS item_id, '{kind}' AS kind,"
            f" CASE WHEN uri IS NULL THEN nfc_normalize(trim(payload)) END AS payload, uri, checksum, metadata,"
            f" '{src}' AS source, source_row FROM media"
        ).to_arrow_table().cast(ITEM_SCHEMA)
    finally:
        con.close()
