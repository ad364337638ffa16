"""Box export benchmark: 1M boxes (100k images x 10 boxes) exported as COCO instances JSON.

    uv run python -m bench.box_export [--images 100000] [--boxes 10] [--out bench/out/box_export] [--yolo]

Builds the state once (cached in --out: image items with their size in metadata, resolved box answers
with per-box confidence and sources, generated inside DuckDB; no image files are needed), then runs
each measured step in a fresh subprocess so the peak RSS reported is that step's alone:

* `coco`: the COCO writer alone on the published snapshot (target: 1M boxes <= 30 s);
* `export`: the whole `annoflow export` stage with formats parquet + coco (snapshot, release gate with
  its box checks, COCO, manifest);
* `yolo` (with --yolo): the YOLO writer on the snapshot (one file per image: 100k files).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["car", "person", "sign"]


def _project(out: Path, images: int, boxes: int, formats: list[str]):
    from tests.conftest import write_project

    return write_project(out / f"project-{images}x{boxes}", name="bench-box-export", data_kind="image", task_kind="boxes",
                         labels=LABELS, export={"formats": formats}, validation={"min_gold_accuracy": 0.0})


def build_state(out: Path, images: int, boxes: int) -> None:
    """`images` image items (640x480 in metadata) with `boxes` resolved boxes each, inside the image."""
    from tasks.store import open_store

    cfg = _project(out, images, boxes, ["parquet", "coco"])
    marker = cfg.state_dir / "built"
    if marker.exists():  # reuse the state, start the versions afresh
        import shutil

        shutil.rmtree(cfg.export_dir, ignore_errors=True)
        with open_store(cfg.db_path) as con:
            con.execute("DELETE FROM export_versions")
        return
    t = time.perf_counter()
    with open_store(cfg.db_path) as con:
        con.execute(
            "INSERT INTO items (item_id, kind, uri, metadata, source, source_row)"
            " SELECT md5('img' || i::VARCHAR), 'image', 'file:///data/bench/img-' || i::VARCHAR || '.png',"
            " '{\"width\": 640, \"height\": 480, \"format\": \"PNG\"}', 'bench', i + 1 FROM range(?) t(i)", [images])
        box = ("{'x': (hash(item_id, j) % 500)::DOUBLE + 0.25, 'y': (hash(j, item_id) % 400)::DOUBLE, 'w': 20.0 + j * 7,"
               " 'h': 30.5 + j, 'label': ['car', 'person', 'sign'][1 + ((hash(item_id) % 3)::INT + j) % 3],"
               " 'confidence': round(0.5 + (hash(item_id, j) % 500) / 1000.0, 4), 'sources': ['human:ann', 'human:bob']}")
        con.execute(
            "INSERT INTO labels (item_id, answer, confidence, method, decision, n_votes, n_human, agreement, sources)"
            f" SELECT item_id, to_json(list_transform(range({boxes}), lambda j: {box})), 0.9, 'adjudicated', 'resolved',"
            " 5, 5, 0.8, ['human:ann', 'human:bob'] FROM items")
    marker.write_text("ok")
    print(f"built state: {images:,} images x {boxes} boxes in {time.perf_counter() - t:.1f}s", flush=True)


def _child(args: list[str]) -> tuple[dict, float, float]:
    """Run one step in a fresh interpreter: (its JSON result, wall seconds, peak RSS of the children so far in MB)."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench.box_export", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stdout}\n{proc.stderr}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall, peak_mb


def child_main(step: str, out: Path, images: int, boxes: int) -> None:
    import shutil

    from tasks.export import versions as V

    t = time.perf_counter()
    scratch = out / f"scratch-{step}"
    if step == "export":
        from tasks.export.stage import export

        r = export(_project(out, images, boxes, ["parquet", "coco"]), force=True)
        res = {"version": r.version, "status": r.status, "rows": r.n_rows, "timings": r.timings}
    else:
        from tasks.kinds.boxes.coco_export import write_coco
        from tasks.kinds.boxes.yolo_export import write_yolo

        cfg = _project(out, images, boxes, ["parquet", "coco"])
        shutil.rmtree(scratch, ignore_errors=True)
        written = (write_coco if step == "coco" else write_yolo)(V.data_files(cfg, "latest"), scratch, cfg)
        res = {"files": len(written), "bytes": sum(p.stat().st_size for p in written)}
    res["s"] = round(time.perf_counter() - t, 2)
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if step == "coco":  # read back after the measurement: a JSON parse of 1M objects costs more than writing them
        with open(written[0], "rb") as f:
            body = json.load(f)
        res["images"], res["annotations"] = len(body["images"]), len(body["annotations"])
    if step != "export":
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(res))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=100_000)
    p.add_argument("--boxes", type=int, default=10)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "box_export")
    p.add_argument("--yolo", action="store_true", help="also time the YOLO writer (one file per image)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child_main(a.child, a.out, a.images, a.boxes)
    a.out.mkdir(parents=True, exist_ok=True)
    build_state(a.out, a.images, a.boxes)
    common = ["--images", str(a.images), "--boxes", str(a.boxes), "--out", str(a.out)]
    n = a.images * a.boxes
    res, _, peak = _child(["--child", "export", *common])
    print(f"export stage (snapshot + gate + COCO) of {n:,} boxes on {a.images:,} images: {res['s']:.1f} s"
          f" (timings {res['timings']}), peak RSS {peak:.0f} MB", flush=True)
    res, _, _ = _child(["--child", "coco", *common])
    print(f"COCO writer alone: {res['annotations']:,} annotations on {res['images']:,} images ({res['bytes'] / 1e6:.0f} MB)"
          f" in {res['s']:.1f} s (target <= 30 s), peak RSS {res['peak_rss_mb']} MB (read back by json.load after)", flush=True)
    if a.yolo:
        res, _, _ = _child(["--child", "yolo", *common])
        print(f"YOLO writer alone: {res['files']:,} files in {res['s']:.1f} s, peak RSS {res['peak_rss_mb']} MB", flush=True)


if __name__ == "__main__":
    main()
