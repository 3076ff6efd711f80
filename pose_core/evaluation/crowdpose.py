"""CrowdPose AP by crowd level: images bucketed by their Crowd Index, OKS AP computed per bucket.

Crowd Index (CrowdPose paper): for each person i, N_a(i) = i's own labelled joints and N_b(i) = other
people's labelled joints inside i's box; an image's index is the mean of N_b(i)/N_a(i). The benchmark's
buckets are easy [0, 0.1], medium (0.1, 0.8], hard (0.8, 1]. CrowdPose files carry the index per image
("crowdIndex"); we use it when present and compute it otherwise.
"""
from __future__ import annotations

import numpy as np

from pose_core.evaluation.coco import evaluate_keypoints, load_ground_truth

BUCKETS = {"easy": (-np.inf, 0.1), "medium": (0.1, 0.8), "hard": (0.8, np.inf)}


def crowd_index(annotations: list[dict]) -> float:
    people = []
    for a in annotations:
        if a.get("iscrowd", 0):
            continue
        kps = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
        people.append((kps[kps[:, 2] > 0, :2], a["bbox"]))
    ratios = []
    for i, (own, (x, y, w, h)) in enumerate(people):
        if len(own) == 0:
            continue
        others = [pts for j, (pts, _) in enumerate(people) if j != i and len(pts)]
        if others:
            pts = np.concatenate(others)
            inside = (pts[:, 0] >= x) & (pts[:, 0] <= x + w) & (pts[:, 1] >= y) & (pts[:, 1] <= y + h)
            ratios.append(inside.sum() / len(own))
        else:
            ratios.append(0.0)
    return float(np.mean(ratios)) if ratios else 0.0


def crowd_buckets(ground_truth) -> dict[str, list[int]]:
    """bucket name -> image ids."""
    coco = load_ground_truth(ground_truth)
    out = {name: [] for name in BUCKETS}
    for img in coco.loadImgs(coco.getImgIds()):
        ci = img.get("crowdIndex")
        if ci is None:
            ci = crowd_index(coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]])))
        for name, (lo, hi) in BUCKETS.items():
            if lo < ci <= hi or (name == "easy" and ci <= hi):
                out[name].append(img["id"])
                break
    return out


def evaluate_crowdpose(ground_truth, results: list[dict]) -> dict[str, float]:
    """Overall OKS AP/AR plus AP_easy / AP_medium / AP_hard (-1 for a bucket with no images)."""
    coco = load_ground_truth(ground_truth)
    stats = evaluate_keypoints(coco, results)
    for name, ids in crowd_buckets(coco).items():
        stats[f"AP_{name}"] = evaluate_keypoints(coco, results, image_ids=ids)["AP"] if ids else -1.0
        stats[f"images_{name}"] = len(ids)
    return stats
