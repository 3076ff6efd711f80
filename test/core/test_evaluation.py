"""Evaluation metrics on small hand-built ground truth: the metric must reward the truth and punish errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pose_core.errors import DatasetError
from pose_core.evaluation import (
    convert_results,
    crowd_buckets,
    crowd_index,
    evaluate_crowdpose,
    evaluate_keypoints,
    evaluate_pckh,
    ground_truth_as_results,
    pckh,
    to_results,
)
from pose_core.layouts import COCO17, CROWDPOSE14, MPII16, OPENPOSE18
from pose_core.people import Person


def _person(layout, rng, cx, cy, height=120.0):
    """Random but plausible keypoints spread over a box of `height` x height/2 around (cx, cy)."""
    k = layout.num_keypoints
    xy = np.stack([cx + rng.uniform(-height / 4, height / 4, k), cy + rng.uniform(-height / 2, height / 2, k)], 1)
    return np.concatenate([xy, np.full((k, 1), 2.0)], 1)


def _dataset(layout, people_per_image=(1, 2, 3), seed=0, spacing=150.0):
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i, n in enumerate(people_per_image):
        images.append({"id": i + 1, "file_name": f"{i}.png", "width": 640, "height": 480})
        for j in range(n):
            kps = _person(layout, rng, 100 + spacing * j, 240)
            x0, y0 = kps[:, :2].min(0)
            x1, y1 = kps[:, :2].max(0)
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                         "keypoints": kps.reshape(-1).tolist(), "num_keypoints": layout.num_keypoints,
                         "bbox": [x0, y0, x1 - x0, y1 - y0], "area": float((x1 - x0) * (y1 - y0))})
    cats = [{"id": 1, "name": "person", "keypoints": list(layout.keypoints)}]
    return {"images": images, "annotations": anns, "categories": cats}


def test_ground_truth_as_predictions_scores_ap_one():
    gt = _dataset(COCO17)
    stats = evaluate_keypoints(gt, ground_truth_as_results_from(gt))
    assert stats["AP"] == pytest.approx(1.0) and stats["AR"] == pytest.approx(1.0)


def ground_truth_as_results_from(gt):
    from pose_core.evaluation import load_ground_truth
    return ground_truth_as_results(load_ground_truth(gt))


def test_perturbed_predictions_score_lower_and_monotonically():
    gt = _dataset(COCO17)
    perfect = ground_truth_as_results_from(gt)
    rng = np.random.default_rng(1)
    aps = []
    for noise in (2.0, 6.0, 15.0):
        noisy = [{**r, "keypoints": (np.asarray(r["keypoints"]).reshape(-1, 3)
                                     + np.c_[rng.normal(0, noise, (17, 2)), np.zeros(17)]).reshape(-1).tolist()}
                 for r in perfect]
        aps.append(evaluate_keypoints(gt, noisy)["AP"])
    assert 1.0 > aps[0] > aps[1] > aps[2] >= 0.0, aps
    # Missing a person costs recall, a false positive costs precision.
    assert evaluate_keypoints(gt, perfect[:-1])["AR"] < 1.0
    assert evaluate_keypoints(gt, [])["AP"] == 0.0


def test_openpose18_predictions_map_to_coco17_by_name():
    gt = _dataset(COCO17)
    people = {}
    for a in gt["annotations"]:
        coco_kps = np.asarray(a["keypoints"], np.float32).reshape(17, 3)
        op = COCO17.convert(coco_kps, OPENPOSE18)  # neck stays (0, 0, 0): COCO has none
        people.setdefault(a["image_id"], []).append(Person(op, 0.9, OPENPOSE18))
    results = [r for img, ps in people.items() for r in to_results(img, ps, COCO17)]
    assert evaluate_keypoints(gt, results)["AP"] == pytest.approx(1.0)
    # The same records expressed in OpenPose order and converted back agree too.
    op_records = [{**r, "keypoints": COCO17.convert(np.asarray(r["keypoints"]).reshape(17, 3), OPENPOSE18)
                   .reshape(-1).tolist()} for r in results]
    assert evaluate_keypoints(gt, convert_results(op_records, OPENPOSE18, COCO17))["AP"] == pytest.approx(1.0)
    # A left/right swap (the classic layout bug) must not pass.
    swapped = [{**r, "keypoints": np.asarray(r["keypoints"]).reshape(17, 3)[COCO17.flip_permutation]
                .reshape(-1).tolist()} for r in results]
    assert evaluate_keypoints(gt, swapped)["AP"] < 0.5


def test_unknown_image_and_malformed_ground_truth_are_clear_errors():
    gt = _dataset(COCO17)
    bad = ground_truth_as_results_from(gt)
    bad[0] = {**bad[0], "image_id": 999}
    with pytest.raises(DatasetError, match="not in the ground truth"):
        evaluate_keypoints(gt, bad)
    with pytest.raises(DatasetError, match="annotations"):
        evaluate_keypoints({"images": [], "categories": []}, [])


def test_crowd_index_and_buckets():
    # Two people far apart: nobody's joints inside another's box -> index 0 (easy).
    sparse = _dataset(CROWDPOSE14, people_per_image=(2,), spacing=300.0)
    assert crowd_index(sparse["annotations"]) == 0.0
    # Two people on top of each other: every joint of one is inside the other's box -> index ~1 (hard).
    dense = _dataset(CROWDPOSE14, people_per_image=(1,))
    twin = dict(dense["annotations"][0], id=2)
    kps = np.asarray(twin["keypoints"]).reshape(-1, 3)
    kps[:, :2] = kps[:, :2].mean(0) + 0.9 * (kps[:, :2] - kps[:, :2].mean(0))  # shrunk copy: inside the box
    twin["keypoints"] = kps.reshape(-1).tolist()
    dense["annotations"].append(twin)
    assert crowd_index(dense["annotations"]) > 0.8
    both = _dataset(CROWDPOSE14, people_per_image=(2, 2), spacing=300.0)
    both["annotations"] = [a for a in both["annotations"] if a["image_id"] == 1]
    shifted = [dict(a, image_id=2, id=a["id"] + 10) for a in dense["annotations"]]
    both["annotations"] += shifted
    buckets = crowd_buckets(both)
    assert buckets["easy"] == [1] and buckets["hard"] == [2] and buckets["medium"] == []
    # A file's own crowdIndex wins over the computed one.
    both["images"][0]["crowdIndex"] = 0.5
    assert crowd_buckets(both)["medium"] == [1]
    stats = evaluate_crowdpose(both, ground_truth_as_results_from(both))
    assert stats["AP_medium"] == pytest.approx(1.0) and stats["AP_hard"] == pytest.approx(1.0)
    assert stats["AP_easy"] == -1.0


def test_pckh_thresholds_on_head_size():
    gt = np.zeros((1, 16, 3))
    gt[0, :, :2] = np.arange(32).reshape(16, 2) * 10.0
    gt[0, :, 2] = 1
    pred = gt[..., :2].copy()
    pred[0, MPII16.index("left_wrist")] += [0, 4.9]   # within 0.5 x 10 px
    pred[0, MPII16.index("right_wrist")] += [0, 5.1]  # just outside
    res = pckh(pred, gt, np.array([10.0]), MPII16)
    assert res["per_keypoint"]["left_wrist"] == 100.0 and res["per_keypoint"]["right_wrist"] == 0.0
    assert res["PCKh@0.5"] == pytest.approx(100.0 * 13 / 14)  # pelvis/thorax not in the headline


def test_pckh_on_coco_format_mpii_file_matches_people():
    gt = _dataset(MPII16, people_per_image=(2,), spacing=300.0)
    results = ground_truth_as_results_from(gt)[::-1]  # order must not matter
    assert evaluate_pckh(gt, results, MPII16)["PCKh@0.5"] == 100.0
    moved = [{**r, "keypoints": (np.asarray(r["keypoints"]) + 200.0).tolist()} for r in results]
    assert evaluate_pckh(gt, moved, MPII16)["PCKh@0.5"] < 20.0
    json.dumps(evaluate_pckh(gt, results, MPII16))  # the results JSON must serialise


def test_pose_eval_cli_writes_results_json(tmp_path):
    from pose_core.cli import main

    gt = _dataset(COCO17)
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(gt))
    preds = ground_truth_as_results_from(gt)
    # As an OpenPose-18 model would write them: the CLI infers the layout from 18 keypoints.
    op = [{**r, "keypoints": COCO17.convert(np.asarray(r["keypoints"]).reshape(17, 3), OPENPOSE18)
           .reshape(-1).tolist()} for r in preds]
    pred_path = tmp_path / "preds.json"
    pred_path.write_text(json.dumps(op))
    out = tmp_path / "res.json"
    assert main(["eval", "--gt", str(gt_path), "--predictions", str(pred_path), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["metric"] == "coco" and res["stats"]["AP"] == pytest.approx(1.0)
    for p in op:
        p["keypoints"] = (np.asarray(p["keypoints"]) + 8.0).tolist()
    pred_path.write_text(json.dumps(op))
    assert main(["eval", "--gt", str(gt_path), "--predictions", str(pred_path), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["stats"]["AP"] < 0.9
    # Garbage predictions: one readable line, exit status 1.
    pred_path.write_text('{"not": "a list"}')
    assert main(["eval", "--gt", str(gt_path), "--predictions", str(pred_path)]) == 1


def test_pckh_straight_from_a_deepercut_dataset_mat(tmp_path):
    """`pose eval --gt dataset.mat`: the MPII/DeeperCut file is read by the data reader and scored with
    PCKh; ground truth fed back scores 100, predictions shifted by a full head size score 0."""
    import scipy.io

    from pose_core.cli import main

    rng = np.random.default_rng(3)
    rec = np.zeros((1, 2), dtype=[("image", object), ("size", object), ("joints", object)])
    truth = []
    for i in range(2):
        xy = rng.uniform(20, 200, size=(16, 2))
        xy[MPII16.index("head_top")] = (100, 20)
        xy[MPII16.index("upper_neck")] = (100, 50)       # head size 30 px
        rec[0, i]["image"] = np.array([f"im{i}.png"])
        rec[0, i]["size"] = np.array([[3, 240, 320]])
        cell = np.empty((1, 1), dtype=object)
        cell[0, 0] = np.column_stack([np.arange(16), xy])
        rec[0, i]["joints"] = cell
        truth.append(xy)
    mat = tmp_path / "dataset.mat"
    scipy.io.savemat(str(mat), {"dataset": rec})

    def score(shift):
        preds = [{"image_id": i, "category_id": 1, "score": 1.0,
                  "keypoints": np.column_stack([xy + shift, np.ones(16)]).ravel().tolist()}
                 for i, xy in enumerate(truth)]
        (tmp_path / "pred.json").write_text(json.dumps(preds))
        out = tmp_path / "eval.json"
        assert main(["eval", "--gt", str(mat), "--predictions", str(tmp_path / "pred.json"),
                     "--out", str(out)]) == 0
        result = json.loads(out.read_text())
        assert result["metric"] == "pckh" and result["layout"] == "mpii16"
        return result["stats"]["PCKh@0.5"]

    assert score(0.0) == pytest.approx(100.0)
    assert score(10.0) == pytest.approx(100.0)      # 10 px < 0.5 x 30 px
    assert score(30.0) == pytest.approx(0.0)


def test_unlabelled_ground_truth_joints_do_not_count_against_a_model(labelled_dir):
    """Real labels leave joints unlabelled (a dataset lacks them, or nobody could see them). A prediction
    right on every labelled joint scores AP 1 whatever it says at the unlabelled ones."""
    gt = json.loads((labelled_dir / "dev_coco17.json").read_text())
    rng = np.random.default_rng(0)
    results = []
    people = [a for a in gt["annotations"] if a["num_keypoints"] > 0]   # COCO ignores unlabelled people
    assert sum((np.asarray(a["keypoints"]).reshape(17, 3)[:, 2] == 0).any() for a in people) >= len(people) // 2
    for a in people:
        kps = np.asarray(a["keypoints"], np.float64).reshape(17, 3)
        unlabelled = kps[:, 2] == 0
        kps[unlabelled, :2] = rng.uniform(0, 600, (int(unlabelled.sum()), 2))   # garbage there
        kps[:, 2] = 1.0
        results.append({"image_id": a["image_id"], "category_id": 1, "keypoints": kps.reshape(-1).tolist(),
                        "score": 1.0})
    stats = evaluate_keypoints(gt, results)
    assert stats["AP"] == pytest.approx(1.0)


def test_pose_eval_runs_a_model_on_real_labelled_photos(labelled_dir, models_dir, tmp_path):
    """`pose eval --model NAME --images DIR --gt coco.json`: estimate and score in one command."""
    import os
    import subprocess
    import sys

    out = tmp_path / "res.json"
    r = subprocess.run([sys.executable, "-m", "pose_core.cli", "eval",
                        "--model", "topdown/yolox-nano+movenet-lightning",
                        "--gt", str(labelled_dir / "dev_coco17.json"), "--images", str(labelled_dir / "images"),
                        "--out", str(out)], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, POSE_MODELS_DIR=str(models_dir)))
    assert r.returncode == 0, r.stderr[-2000:]
    stats = json.loads(out.read_text())["stats"]
    assert 0.4 <= stats["AP"] <= 1.0 and stats["AR"] >= stats["AP"] - 0.2, stats
    assert "AP" in r.stdout
