"""`pose eval`: keypoint accuracy of predictions (or of a model run on a dataset) against ground truth.

    pose eval --gt person_keypoints_val.json --predictions results.json [--metric coco] [--out res.json]
    pose eval --gt person_keypoints_val.json --images IMAGES_DIR --model MODEL [--save-predictions p.json]

Ground truth: a COCO-format keypoints file (COCO, CrowdPose, or MPII/own data converted to it).
Predictions: COCO result records [{image_id, category_id, keypoints: [x, y, v] * K, score}] in any
layout (inferred from K, or --pred-layout); they are re-ordered into the ground truth's layout by name.
Metrics: coco (OKS AP/AR), crowdpose (+ AP easy/medium/hard by crowd index), pckh (PCKh@0.5).
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger("pose.eval")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gt", required=True, help="ground-truth COCO-format keypoints JSON")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--predictions", help="COCO result records JSON")
    src.add_argument("--model", help="zoo name or exported model folder to run on the ground truth's images")
    p.add_argument("--images", help="image folder for --model (default: beside the annotations, ../images)")
    p.add_argument("--metric", choices=("coco", "crowdpose", "pckh"), default=None,
                   help="default: crowdpose for 14-keypoint CrowdPose files, pckh for MPII-16, else coco")
    p.add_argument("--gt-layout", help="layout of the ground truth when the file does not say")
    p.add_argument("--pred-layout", help="layout of the predictions (default: inferred from keypoint count)")
    p.add_argument("--threshold", type=float, default=0.5, help="PCKh threshold (fraction of head size)")
    p.add_argument("--flip-test", action="store_true", help="--model: average with the mirrored image")
    p.add_argument("--keypoint-threshold", type=float, default=0.0,
                   help="--model: report keypoints down to this score (default 0: every keypoint with its "
                        "score, as COCO's protocol expects; a heatmap decoder's own peak threshold still applies)")
    p.add_argument("--save-predictions", help="--model: also write the predictions as COCO results JSON")
    p.add_argument("--out", help="results JSON (default: print only)")


def predict_dataset(model: str, coco, images_dir: Path, layout, flip_test: bool = False,
                    keypoint_threshold: float | None = None) -> list[dict]:
    """Run a model over every ground-truth image; COCO result records in the ground truth's layout."""
    from tqdm import tqdm

    from pose_core.estimators import load_estimator
    from pose_core.evaluation import to_results
    from pose_core.image_io import read_image

    # keypoint_threshold: the result filter's min_keypoint_score (a heatmap codec's peak threshold stays).
    est = load_estimator(model, flip_test=flip_test, min_keypoint_score=keypoint_threshold)
    results = []
    for img in tqdm(coco.loadImgs(coco.getImgIds()), desc="eval", unit="img"):
        image = read_image(images_dir / img["file_name"])
        results += to_results(img["id"], est(image), layout)
    return results


def _read_predictions(path: str) -> list[dict]:
    from pose_core.errors import DatasetError
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read predictions {path}: {exc}") from None
    if isinstance(data, dict) and "annotations" in data:   # a COCO file given as predictions
        data = data["annotations"]
    if not isinstance(data, list) or any(not isinstance(r, dict) or "keypoints" not in r or "image_id" not in r
                                         for r in data):
        raise DatasetError(f"{path}: expected a list of COCO result records (image_id, keypoints, score)")
    for r in data:
        r.setdefault("score", 1.0)
        r.setdefault("category_id", 1)
    return data


def run(args) -> int:
    from pose_core.cli.outputs import check_output_file
    from pose_core.errors import DatasetError
    from pose_core.evaluation import (
        convert_results,
        evaluate_crowdpose,
        evaluate_keypoints,
        evaluate_pckh,
        ground_truth_layout,
        load_ground_truth,
    )
    from pose_core.evaluation.coco import layout_for_count
    from pose_core.layouts import CROWDPOSE14, MPII16

    check_output_file(args.out, "--out")                   # before any work
    check_output_file(args.save_predictions, "--save-predictions", "predictions.json")
    coco = load_ground_truth(args.gt)
    layout = ground_truth_layout(coco, args.gt_layout)
    metric = args.metric or {CROWDPOSE14.name: "crowdpose", MPII16.name: "pckh"}.get(layout.name, "coco")
    if args.predictions:
        results = _read_predictions(args.predictions)
        if results:
            k = len(results[0]["keypoints"]) // 3
            named_or_other = args.pred_layout or k != layout.num_keypoints
            source = layout_for_count(k, args.pred_layout) if named_or_other else layout
            results = convert_results(results, source, layout)
    else:
        gt = Path(args.gt).resolve()
        images = Path(args.images) if args.images else (gt.parent if gt.suffix == ".mat"
                                                         else gt.parent.parent / "images")
        if not images.is_dir():
            raise DatasetError(f"image folder {images} not found (give --images)")
        results = predict_dataset(args.model, coco, images, layout, args.flip_test, args.keypoint_threshold)
        if args.save_predictions:
            Path(args.save_predictions).write_text(json.dumps(results))
    if metric == "crowdpose":
        stats = evaluate_crowdpose(coco, results)
    elif metric == "pckh":
        stats = evaluate_pckh(coco, results, layout, args.threshold)
    else:
        stats = evaluate_keypoints(coco, results)
    for name, value in stats.items():
        if isinstance(value, dict):
            print("  ".join(f"{k} {v:.1f}" for k, v in value.items()))
        else:
            print(f"{name:>10} {value:.4f}" if isinstance(value, float) else f"{name:>10} {value}")
    if args.out:
        payload = {"metric": metric, "layout": layout.name, "ground_truth": str(args.gt),
                   "predictions": args.predictions, "model": args.model, "num_predictions": len(results),
                   "stats": stats}
        Path(args.out).write_text(json.dumps(payload, indent=1))
    return 0
