"""Run weighted boxes fusion (ensemble-boxes) on the box benchmark's crowds; print JSON results.

Runs inside bench/.peers-venv, never in the project environment. Usage:
    python run_box_peers.py CROWD.json   (written by bench/boxes.py)
Input: {"images": {image_id: {"width", "height", "answers": [[[x, y, w, h, label_index], ...], ...]}}}.
Output: {image_id: [[x, y, w, h, label_index, score], ...]} in pixels. Every annotator is one "model"
of equal weight and every human box has score 1, so a fused box's score is the share of annotators
that drew it (conf_type "avg", the library's default), as the library intends for equal models.
"""

import json
import sys

import numpy as np
from ensemble_boxes import weighted_boxes_fusion


def main() -> None:
    with open(sys.argv[1]) as f:
        data = json.load(f)
    iou_thr = float(sys.argv[2]) if len(sys.argv) > 2 else 0.55
    out = {}
    for image, d in data["images"].items():
        W, H = float(d["width"]), float(d["height"])
        boxes, scores, labels = [], [], []
        for ans in d["answers"]:
            a = np.array(ans, dtype=float).reshape(-1, 5)
            xyxy = np.stack([a[:, 0] / W, a[:, 1] / H, (a[:, 0] + a[:, 2]) / W, (a[:, 1] + a[:, 3]) / H], axis=1)
            boxes.append(np.clip(xyxy, 0, 1).tolist())
            scores.append([1.0] * len(a))
            labels.append(a[:, 4].astype(int).tolist())
        if not any(len(b) for b in boxes):
            out[image] = []
            continue
        b, s, lab = weighted_boxes_fusion(boxes, scores, labels, iou_thr=iou_thr, skip_box_thr=0.0)
        out[image] = [[x1 * W, y1 * H, (x2 - x1) * W, (y2 - y1) * H, int(k), float(sc)]
                      for (x1, y1, x2, y2), sc, k in zip(b, s, lab)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
