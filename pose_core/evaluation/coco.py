"""COCO-style keypoint AP/AR (object keypoint similarity) through pycocotools.

Predictions may come in any layout (e.g. OpenPose-18 from a PAF model); they are re-ordered into the
ground truth's layout by keypoint NAME (KeypointLayout.convert), so keypoints the ground truth does not
have (OpenPose's neck) are dropped and ones the model lacks score zero.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np

from pose_core.errors import DatasetError
from pose_core.layouts import AIC14, COCO17, CROWDPOSE14, MPII16, OPENPOSE18, KeypointLayout, get_layout
from pose_core.people import Person

# pycocotools' COCOeval.stats order for iouType="keypoints".
KEYPOINT_STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")

# Keypoint count -> layout when a file does not name its layout (14 is ambiguous: CrowdPose is the
# multi-person benchmark we evaluate; AI Challenger data must say so explicitly).
_LAYOUT_BY_COUNT = {17: COCO17, 18: OPENPOSE18, 14: CROWDPOSE14, 16: MPII16}


def layout_for_count(num_keypoints: int, hint: str | None = None) -> KeypointLayout:
    if hint:
        return get_layout(hint)
    if num_keypoints not in _LAYOUT_BY_COUNT:
        raise DatasetError(f"cannot infer a keypoint layout for {num_keypoints} keypoints; name it "
                           f"(one of {', '.join(l.name for l in (COCO17, OPENPOSE18, CROWDPOSE14, AIC14, MPII16))})")
    return _LAYOUT_BY_COUNT[num_keypoints]


def load_ground_truth(source) -> "pycocotools.coco.COCO":  # noqa: F821 - imported lazily (optional)
    """A pycocotools COCO object from a path, a dict (COCO JSON content) or a COCO object."""
    from pycocotools.coco import COCO

    if isinstance(source, COCO):
        return source
    if isinstance(source, (str, Path)) and Path(source).suffix == ".mat":
        # DeeperCut / MPII dataset.mat: read with the data reader, evaluate as COCO keypoints.
        from pose_core.data.readers import read_dataset
        from pose_core.data.to_coco import samples_to_coco
        dataset = read_dataset("mpii", source)
        data = samples_to_coco(list(dataset), dataset.layout, Path(source).parent)
    elif isinstance(source, (str, Path)):
        try:
            data = json.loads(Path(source).read_text())
        except (OSError, ValueError) as exc:
            raise DatasetError(f"cannot read ground truth {source}: {exc}") from None
    else:
        data = copy.deepcopy(source)
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise DatasetError(f"ground truth has no {key!r} list (not a COCO keypoints file)")
    for i, ann in enumerate(data["annotations"]):
        for key in ("image_id", "keypoints"):
            if key not in ann:
                raise DatasetError(f"ground truth annotation #{i} (id {ann.get('id')}) has no {key!r}")
        kps = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)
        # Fill the fields COCOeval relies on when a hand-made file leaves them out.
        ann.setdefault("iscrowd", 0)
        ann.setdefault("num_keypoints", int((kps[:, 2] > 0).sum()))
        if "bbox" not in ann:
            vis = kps[kps[:, 2] > 0, :2]
            x0, y0 = vis.min(0) if len(vis) else (0.0, 0.0)
            x1, y1 = vis.max(0) if len(vis) else (0.0, 0.0)
            ann["bbox"] = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
        ann.setdefault("area", float(ann["bbox"][2] * ann["bbox"][3]))
        ann.setdefault("id", i + 1)
        ann.setdefault("category_id", data["categories"][0]["id"] if data["categories"] else 1)
    with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints progress lines
        coco = COCO()
        coco.dataset = data
        coco.createIndex()
    return coco


def ground_truth_layout(coco, hint: str | None = None) -> KeypointLayout:
    cats = coco.loadCats(coco.getCatIds())
    if hint:
        return get_layout(hint)
    if cats and cats[0].get("keypoints"):
        names = tuple(cats[0]["keypoints"])
        for layout in (COCO17, CROWDPOSE14, AIC14, MPII16, OPENPOSE18):
            if names == layout.keypoints:
                return layout
        return layout_for_count(len(names))
    anns = coco.loadAnns(coco.getAnnIds())
    if not anns:
        raise DatasetError("ground truth has no annotations and no category keypoint names")
    return layout_for_count(len(anns[0]["keypoints"]) // 3)


def to_results(image_id: int, people: list[Person], target: KeypointLayout, category_id: int = 1) -> list[dict]:
    """People of one image -> COCO result records with keypoints re-ordered into `target`'s layout."""
    out = []
    for p in people:
        kps = p.layout.convert(p.keypoints, target) if p.layout is not target else p.keypoints
        kps = np.asarray(kps, np.float64).copy()
        # COCO results carry a visibility flag, not a score; OKS ignores it, pycocotools wants >0 for
        # keypoints to count toward the derived box.
        kps[:, 2] = (kps[:, 2] > 0).astype(np.float64)
        out.append({"image_id": int(image_id), "category_id": int(category_id),
                    "keypoints": [round(float(v), 3) for v in kps.reshape(-1)],
                    "score": float(p.score)})
    return out


def convert_results(results: list[dict], source: KeypointLayout, target: KeypointLayout) -> list[dict]:
    """COCO result records in `source` layout -> the same records in `target` layout."""
    if source is target:
        return results
    out = []
    for i, r in enumerate(results):
        kps = np.asarray(r["keypoints"], np.float64)
        if kps.size != source.num_keypoints * 3:
            raise DatasetError(f"prediction #{i}: {kps.size // 3} keypoints, layout {source.name} has "
                               f"{source.num_keypoints}")
        out.append({**r, "keypoints": source.convert(kps.reshape(-1, 3), target).reshape(-1).tolist()})
    return out


def ground_truth_as_results(coco, score: float = 1.0) -> list[dict]:
    """Every non-crowd annotated person as a prediction (the evaluation's self-check: AP must be 1)."""
    anns = coco.loadAnns(coco.getAnnIds(iscrowd=False))
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "keypoints": list(a["keypoints"]),
             "score": score} for a in anns if a.get("num_keypoints", 0) > 0]


def evaluate_keypoints(ground_truth, results: list[dict], sigmas: np.ndarray | None = None,
                       image_ids: list[int] | None = None) -> dict[str, float]:
    """OKS AP/AR (pycocotools COCOeval, iouType keypoints). `results` are COCO result records already
    in the ground truth's layout; `sigmas` default to the ground truth layout's OKS sigmas.
    Returns {"AP": ..., "AP50": ..., ...}; every value is -1 when there is nothing to evaluate, as
    pycocotools reports it, and 0 for an empty prediction list."""
    from pycocotools.cocoeval import COCOeval

    coco = load_ground_truth(ground_truth)
    layout = ground_truth_layout(coco)
    sigmas = layout.sigma_array if sigmas is None else np.asarray(sigmas, np.float64)
    if image_ids is not None:
        results = [r for r in results if r["image_id"] in set(image_ids)]
    if not results:
        return {k: 0.0 for k in KEYPOINT_STAT_NAMES}
    known = set(coco.getImgIds())
    unknown = {r["image_id"] for r in results} - known
    if unknown:
        raise DatasetError(f"{len(unknown)} predicted image ids are not in the ground truth "
                           f"(e.g. {sorted(unknown)[:3]})")
    with contextlib.redirect_stdout(io.StringIO()):  # COCOeval prints its tables; we return numbers
        dets = coco.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco, dets, iouType="keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, np.float64)
        if image_ids is not None:
            ev.params.imgIds = sorted(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {name: float(v) for name, v in zip(KEYPOINT_STAT_NAMES, ev.stats)}
