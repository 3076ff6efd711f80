"""Synthetic dataset generator: deterministic per seed, readable by pycocotools, labels match pixels."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from pose_core.data.synthetic import generate_dataset

# pycocotools (not our code) warns about numpy 2 copy semantics on every mask decode.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    generate_dataset(tmp_path / "a", images=3, seed=5)
    generate_dataset(tmp_path / "b", images=3, seed=5)
    generate_dataset(tmp_path / "c", images=3, seed=6)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert len(a) == 4 and a == b
    assert a.keys() == c.keys() and all(a[k] != c[k] for k in a)


def test_keypoints_sit_on_their_figures_and_flags_follow_occlusion(tmp_path):
    ann = generate_dataset(tmp_path, images=12, seed=2, people=(2, 4), occluder_prob=1.0)
    coco = COCO(str(ann))
    assert coco.getCatIds() == [1] and len(coco.getImgIds()) == 12
    flags = {0: 0, 1: 0, 2: 0}
    on_figure = []
    for a in coco.loadAnns(coco.getAnnIds(iscrowd=False)):
        kp = np.asarray(a["keypoints"], np.float32).reshape(17, 3)
        for v in kp[:, 2]:
            flags[int(v)] += 1
        assert (kp[kp[:, 2] == 0, :2] == 0).all()           # unlabelled keypoints are (0, 0, 0)
        assert a["num_keypoints"] == int((kp[:, 2] > 0).sum())
        if a["num_keypoints"]:
            visible_part = coco.annToMask(a)                 # the figure's unoccluded pixels
            for x, y, v in kp[kp[:, 2] == 2]:
                on_figure.append(visible_part[int(y), int(x)] == 1)
    assert all(flags.values()), flags                        # visible, occluded and unlabelled all occur
    assert np.mean(on_figure) > 0.97                         # visible keypoints lie on their own figure


def test_cli_writes_requested_size_and_format(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pose_core.data.synthetic", "--out", str(tmp_path), "--images", "2",
                          "--seed", "1", "--size", "96x64", "--format", "png"],
                         capture_output=True, text=True, timeout=60, check=True)
    ann = json.loads((tmp_path / "annotations" / "person_keypoints_train.json").read_text())
    assert out.stdout.strip().endswith("person_keypoints_train.json")
    assert [(i["file_name"], i["width"], i["height"]) for i in ann["images"]] == [
        ("000000.png", 96, 64), ("000001.png", 96, 64)]
    assert cv2.imread(str(tmp_path / "images" / "000001.png")).shape == (64, 96, 3)
    bad = subprocess.run([sys.executable, "-m", "pose_core.data.synthetic", "--out", str(tmp_path), "--size", "big"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "size must look like 320x240" in bad.stderr
