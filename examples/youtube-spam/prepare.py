"""Build the youtube-spam sample project from the UCI YouTube Spam Collection CSVs.

    python examples/youtube-spam/prepare.py              # from the CSVs kept in raw/
    python examples/youtube-spam/prepare.py --refresh    # first re-copy raw/ from a `shared/` datasets folder

Writes (all relative to this folder):
    data/comments.jsonl   one object per comment: text, comment_id, author, date, video (no label)
    truth/labels.csv      text,label for every distinct text (evaluation only)
    gold/gold.csv         text,label for a fixed, balanced random sample of distinct texts (hidden gold)

Only the standard library is used, and the output is byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import random
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
RAW = HERE / "raw"
SHARED_SUBDIR = Path("shared/datasets/wrench_youtube/uci_raw")
FILES = [
    "Youtube01-Psy.csv",
    "Youtube02-KatyPerry.csv",
    "Youtube03-LMFAO.csv",
    "Youtube04-Eminem.csv",
    "Youtube05-Shakira.csv",
]
CLASS_TO_LABEL = {"0": "ham", "1": "spam"}
GOLD_PER_LABEL = 100
SEED = 2015

# Youtube04-Eminem.csv as published has one comment with an unbalanced quote: its CONTENT opens with
# `"` and never closes, so a CSV parser swallows the next five rows into it (and takes the label of the
# last one). The two one-line fixes below restore the six separate comments; they are applied only
# when the broken bytes are present, so a corrected upstream file passes through unchanged.
REPAIRS = {
    "Youtube04-Eminem.csv": [
        (
            ',이 정훈,,"This great Warning will happen soon. ,0\n',
            ",이 정훈,,This great Warning will happen soon. ,0\n",
        ),
        (
            ',Notorious Niko,2013-09-26T22:00:43.613000,""Hey guys',
            ',Notorious Niko,2013-09-26T22:00:43.613000,"Hey guys',
        ),
    ]
}

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"</?(?:a|b|i|span)(?:\s[^>]*)?>", re.IGNORECASE)


def clean_text(content: str) -> str:
    """The comment as a viewer saw it: the CSVs hold YouTube's HTML rendering of each comment.

    Line breaks (`<br />`) become newlines, link/format tags are dropped (their visible text stays),
    entities are decoded (`&#39;` -> `'`), and the stray U+FEFF that ends most 2014-15 comments goes.
    """
    text = _BR.sub("\n", content)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    text = text.replace("\ufeff", "")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def find_shared() -> Path | None:
    for parent in [HERE, *HERE.parents]:
        candidate = parent / SHARED_SUBDIR  # `shared/` next to any enclosing folder, e.g. ../shared
        if candidate.is_dir():
            return candidate
    return None


def refresh_raw() -> None:
    src = find_shared()
    if src is None:
        sys.exit(f"no {SHARED_SUBDIR} found above {HERE}; keep using the CSVs in raw/")
    RAW.mkdir(exist_ok=True)
    for name in FILES:
        shutil.copyfile(src / name, RAW / name)
    print(f"copied {len(FILES)} CSVs from {src}")


def read_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for name in FILES:
        raw = (RAW / name).read_text(encoding="utf-8")
        for broken, fixed in REPAIRS.get(name, []):
            if raw.count(broken) == 1:
                raw = raw.replace(broken, fixed)
                print(f"{name}: repaired a broken quote ({fixed.strip(',')[:40]}...)")
        for row in csv.DictReader(io.StringIO(raw, newline="")):
            row["video"] = name.removesuffix(".csv").split("-", 1)[1]
            rows.append(row)
    return rows


def write_csv(path: Path, header: list[str], rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--refresh", action="store_true", help="re-copy raw/ from a shared datasets folder first")
    args = ap.parse_args()
    if args.refresh or not all((RAW / n).is_file() for n in FILES):
        refresh_raw()

    rows = read_rows()
    print(f"read {len(rows)} rows from {len(FILES)} CSVs")

    # The same comment (same COMMENT_ID, same everything) is listed twice a few times: keep one.
    seen_ids: set[str] = set()
    comments = []
    for row in rows:
        if row["COMMENT_ID"] in seen_ids:
            print(f"dropped repeated row {row['COMMENT_ID']} ({row['video']})")
            continue
        seen_ids.add(row["COMMENT_ID"])
        comments.append(row)

    labels_by_text: dict[str, set[str]] = defaultdict(set)
    out = HERE / "data" / "comments.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="\n") as f:
        for row in comments:
            text = clean_text(row["CONTENT"])
            labels_by_text[text].add(CLASS_TO_LABEL[row["CLASS"]])
            item = {
                "text": text,
                "comment_id": row["COMMENT_ID"],
                "author": row["AUTHOR"],
                "date": row["DATE"] or None,
                "video": row["video"],
            }
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"wrote {len(comments)} comments ({len(labels_by_text)} distinct texts) to {out.relative_to(HERE)}")

    conflicting = sorted(t for t, ls in labels_by_text.items() if len(ls) > 1)
    for t in conflicting:
        print(f"identical text with both labels, left out of truth and gold: {t[:60]!r}")
    truth = [(t, next(iter(ls))) for t, ls in labels_by_text.items() if len(ls) == 1]
    write_csv(HERE / "truth" / "labels.csv", ["text", "label"], truth)
    counts = {lab: sum(1 for _, x in truth if x == lab) for lab in ("ham", "spam")}
    print(f"wrote {len(truth)} truth labels {counts} ({len(conflicting)} conflicting texts dropped)")

    rng = random.Random(SEED)
    gold = []
    for lab in ("ham", "spam"):
        pool = sorted(t for t, x in truth if x == lab)
        gold += [(t, lab) for t in rng.sample(pool, GOLD_PER_LABEL)]
    rng.shuffle(gold)
    write_csv(HERE / "gold" / "gold.csv", ["text", "label"], gold)
    print(f"wrote {len(gold)} gold items ({GOLD_PER_LABEL} per label, seed {SEED})")


if __name__ == "__main__":
    main()
