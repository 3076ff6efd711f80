"""PCKh (MPII): a keypoint is correct when it lies within `threshold` x head size of the ground truth.

Head size: MPII's own protocol uses 0.6 x the diagonal of the annotated head box (field "head_box",
[x1, y1, x2, y2]); without a head box we use the head_top-upper_neck (or head_top-neck) distance.
The headline number omits pelvis and thorax, as the MPII benchmark's total does.
"""
from __future__ import annotations

import numpy as np

from pose_core.errors import DatasetError
from pose_core.layouts import KeypointLayout

HEAD_BOX_FACTOR = 0.6  # MPII's SC_BIAS
EXCLUDED_FROM_MEAN = ("pelvis", "thorax")


def head_size(annotation: dict, layout: KeypointLayout) -> float:
    if "head_box" in annotation:
        x1, y1, x2, y2 = annotation["head_box"]
        return HEAD_BOX_FACTOR * float(np.hypot(x2 - x1, y2 - y1))
    kps = np.asarray(annotation["keypoints"], np.float64).reshape(-1, 3)
    for neck in ("upper_neck", "neck"):
        if "head_top" in layout.keypoints and neck in layout.keypoints:
            a, b = kps[layout.index("head_top")], kps[layout.index(neck)]
            if a[2] > 0 and b[2] > 0:
                return float(np.hypot(*(a[:2] - b[:2])))
    raise DatasetError(f"annotation {annotation.get('id')}: no head_box and no visible head_top/neck "
                       f"to measure the head size")


def pckh(pred_xy: np.ndarray, gt: np.ndarray, head_sizes: np.ndarray, layout: KeypointLayout,
         threshold: float = 0.5) -> dict:
    """pred_xy (N, K, 2), gt (N, K, 3) with visibility, head_sizes (N,) in the same pixels.
    Returns {"PCKh": headline %, "per_keypoint": {name: %}, "count": visible joints}."""
    pred_xy, gt = np.asarray(pred_xy, np.float64), np.asarray(gt, np.float64)
    if pred_xy.shape[:2] != gt.shape[:2] or len(head_sizes) != len(gt):
        raise DatasetError(f"PCKh: shapes disagree: predictions {pred_xy.shape}, ground truth {gt.shape}, "
                           f"{len(head_sizes)} head sizes")
    visible = gt[..., 2] > 0
    dist = np.linalg.norm(pred_xy - gt[..., :2], axis=-1) / np.maximum(np.asarray(head_sizes)[:, None], 1e-6)
    correct = (dist <= threshold) & visible
    per_kp = {}
    for k, name in enumerate(layout.keypoints):
        n = visible[:, k].sum()
        per_kp[name] = float(100.0 * correct[:, k].sum() / n) if n else float("nan")
    keep = np.array([name not in EXCLUDED_FROM_MEAN for name in layout.keypoints])
    n = visible[:, keep].sum()
    total = float(100.0 * correct[:, keep].sum() / n) if n else float("nan")
    return {f"PCKh@{threshold}": total, "per_keypoint": per_kp, "count": int(visible.sum())}


def match_people(pred: list[np.ndarray], gt: list[np.ndarray], sizes: list[float]) -> list[np.ndarray]:
    """For each ground-truth person of one image, the prediction (K, 3) with the smallest mean
    head-normalised distance over its visible joints, greedily one-to-one; zeros when none is left."""
    order = []
    for g, (kps, size) in enumerate(zip(gt, sizes)):
        vis = kps[:, 2] > 0
        for p, cand in enumerate(pred):
            d = np.linalg.norm(cand[vis, :2] - kps[vis, :2], axis=-1).mean() / max(size, 1e-6) if vis.any() else 0
            order.append((d, g, p))
    chosen: list[np.ndarray | None] = [None] * len(gt)
    used = set()
    for d, g, p in sorted(order):
        if chosen[g] is None and p not in used:
            chosen[g], _ = pred[p], used.add(p)
    k = gt[0].shape[0] if gt else 0
    return [c if c is not None else np.zeros((k, 3)) for c in chosen]


def evaluate_pckh(ground_truth, results: list[dict], layout: KeypointLayout, threshold: float = 0.5) -> dict:
    """COCO-format ground truth (MPII-layout keypoints) vs COCO result records in the same layout."""
    from pose_core.evaluation.coco import load_ground_truth

    coco = load_ground_truth(ground_truth)
    by_image: dict[int, list[np.ndarray]] = {}
    for r in results:
        by_image.setdefault(r["image_id"], []).append(np.asarray(r["keypoints"], np.float64).reshape(-1, 3))
    preds, gts, sizes = [], [], []
    for img_id in coco.getImgIds():
        anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[img_id])) if a.get("num_keypoints", 1) > 0]
        if not anns:
            continue
        g = [np.asarray(a["keypoints"], np.float64).reshape(-1, 3) for a in anns]
        s = [head_size(a, layout) for a in anns]
        preds += match_people(by_image.get(img_id, []), g, s)
        gts += g
        sizes += s
    if not gts:
        raise DatasetError("PCKh: the ground truth has no annotated people")
    return pckh(np.stack(preds)[..., :2], np.stack(gts), np.asarray(sizes), layout, threshold)
