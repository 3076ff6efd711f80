"""Dataset readers on small generated files of each format, including malformed records."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import scipy.io
import yaml

from pose_core.data.readers import read_dataset
from pose_core.data.sample import ignore_mask, write_ignore_masks
from pose_core.data.synthetic import generate_dataset
from pose_core.errors import DatasetError
from pose_core.layouts import AIC14, COCO17, CROWDPOSE14, MPII16, OPENPOSE18

# pycocotools (not our code) warns about numpy 2 copy semantics on every mask decode.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")


@pytest.fixture(scope="module")
def coco_file(tmp_path_factory):
    # Crowd and unlabelled figures on every image, so the mask path is exercised.
    return generate_dataset(tmp_path_factory.mktemp("coco"), images=6, seed=11, crowd_prob=1.0,
                            unlabelled_person_prob=1.0)


def _edit_coco(src, dst, edit):
    data = json.loads(src.read_text())
    edit(data)
    dst.write_text(json.dumps(data))
    return dst


def test_coco_reader_matches_pycocotools_and_masks_crowds(coco_file, tmp_path):
    ds = read_dataset("coco", coco_file)
    raw = json.loads(coco_file.read_text())
    labelled = [a for a in raw["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0]
    assert ds.layout is COCO17 and len(ds) == 6
    assert ds.counts["people"] == len(labelled) == sum(s.num_people for s in ds)
    unlabelled = [a for a in raw["annotations"] if not a["iscrowd"] and a["num_keypoints"] == 0]
    assert ds.counts["masked_crowd"] == 6 and ds.counts["masked_no_keypoints"] == len(unlabelled) > 0
    first = next(a for a in labelled if a["image_id"] == ds[0].image_id)
    np.testing.assert_allclose(ds[0].keypoints[0].ravel(), first["keypoints"], atol=1e-3)
    x, y, w, h = first["bbox"]
    np.testing.assert_allclose(ds[0].boxes[0], [x, y, x + w, y + h])
    assert ds[0].image_size == (raw["images"][0]["width"], raw["images"][0]["height"])
    # The crowd blob (RLE) and the tiny unlabelled figure (polygons) become ignore regions.
    keep = ignore_mask(ds[0])
    assert keep.shape == (ds[0].image_size[1], ds[0].image_size[0])
    assert 0 < (keep == 0).sum() < keep.size
    masked = write_ignore_masks(ds.samples, tmp_path / "masks")
    assert all(s.mask_path and (tmp_path / "masks").exists() for s in masked)
    # OpenPose-18 neck = mid-shoulders, labelled only when both shoulders are.
    op = ds.to_layout(OPENPOSE18)[0].keypoints[0]
    kp = ds[0].keypoints[0]
    ls, rs = kp[COCO17.index("left_shoulder")], kp[COCO17.index("right_shoulder")]
    np.testing.assert_allclose(op[OPENPOSE18.index("neck"), :2], (ls[:2] + rs[:2]) / 2)
    assert op[OPENPOSE18.index("neck"), 2] == min(ls[2], rs[2])
    np.testing.assert_array_equal(op[OPENPOSE18.index("left_wrist")], kp[COCO17.index("left_wrist")])


def test_coco_reader_counts_images_without_people(coco_file, tmp_path):
    def add_empty(data):
        data["images"].append({"id": 999, "file_name": "none.jpg", "width": 10, "height": 10})
    path = _edit_coco(coco_file, tmp_path / "a.json", add_empty)
    assert read_dataset("coco", path, coco_file.parent.parent / "images").counts["skipped_no_people"] == 1
    kept = read_dataset("coco", path, coco_file.parent.parent / "images", skip_empty=False)
    assert len(kept) == 7 and kept[-1].num_people == 0


@pytest.mark.parametrize("edit, needle", [
    (lambda d: d["annotations"][3].update(keypoints=[1, 2, 2] * 16), "annotations[3] (id 4"),
    (lambda d: d["annotations"][2]["keypoints"].__setitem__(2, 7), "visibility"),
    (lambda d: d["annotations"][1].update(image_id=12345), "image 12345"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2]), "bbox"),
    (lambda d: d["images"][1].pop("width"), "images[1]"),
])
def test_coco_malformed_record_names_file_and_record(coco_file, tmp_path, edit, needle):
    path = _edit_coco(coco_file, tmp_path / "bad.json", edit)
    with pytest.raises(DatasetError) as err:
        read_dataset("coco", path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_invalid_json_names_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"images": [],\n "annotations": [,]}')
    with pytest.raises(DatasetError, match=r"broken.json: invalid JSON at line 2"):
        read_dataset("coco", path)


def _crowdpose(tmp_path):
    kp = [10, 20, 2] * 12 + [15, 5, 2, 15, 12, 1]
    data = {"images": [{"id": 7, "file_name": "c.jpg", "width": 64, "height": 48, "crowdIndex": 0.3}],
            "annotations": [
                {"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [5, 2, 20, 30],
                 "keypoints": kp, "num_keypoints": 14},
                {"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 1, "bbox": [30, 10, 10, 10],
                 "keypoints": [0] * 42, "num_keypoints": 0}],
            "categories": [{"id": 1, "name": "person", "keypoints": list(CROWDPOSE14.keypoints)}]}
    path = tmp_path / "crowdpose.json"
    path.write_text(json.dumps(data))
    return path, data


def test_crowdpose_reader_masks_crowd_boxes(tmp_path):
    path, _ = _crowdpose(tmp_path)
    ds = read_dataset("crowdpose", path, tmp_path)
    assert ds.layout is CROWDPOSE14 and ds[0].keypoints.shape == (1, 14, 3)
    assert ds[0].keypoints[0, CROWDPOSE14.index("neck"), 2] == 1
    keep = ignore_mask(ds[0])   # no segmentation in CrowdPose: the crowd box is the region
    assert keep[15, 35] == 0 and keep[5, 5] == 1 and (keep == 0).sum() == pytest.approx(100, abs=25)


def test_crowdpose_with_coco_layout_is_an_error(tmp_path):
    path, _ = _crowdpose(tmp_path)
    with pytest.raises(DatasetError, match="14 keypoints, layout coco17 expects 17"):
        read_dataset("coco", path)


def test_aic_reader_converts_visibility(tmp_path):
    kp = [float(i) for j in range(14) for i in (10 + j, 50 + j, 1)]
    kp[2], kp[5] = 2, 3       # right_shoulder occluded, right_elbow unlabelled
    data = [{"image_id": "abc", "keypoint_annotations": {"human1": kp, "human3": [0, 0, 3] * 14},
             "human_annotations": {"human1": [1, 2, 30, 80], "human2": [40, 40, 60, 90],
                                   "human3": [0, 70, 5, 75]}},
            {"image_id": "empty", "keypoint_annotations": {}, "human_annotations": {}}]
    path = tmp_path / "aic.json"
    path.write_text(json.dumps(data))
    ds = read_dataset("aic", path, tmp_path)
    assert ds.layout is AIC14 and len(ds) == 1 and ds.counts["skipped_no_people"] == 1
    s = ds[0]
    assert s.image_path.endswith("abc.jpg") and s.image_size == (0, 0)
    assert s.keypoints[0, 0].tolist() == [10, 50, 1] and s.keypoints[0, 1].tolist() == [0, 0, 0]
    assert s.keypoints[0, 2, 2] == 2
    # A box without keypoints and a person with nothing labelled are left out of the loss, and counted.
    assert s.ignore_regions == [[[40, 40, 60, 40, 60, 90, 40, 90]], [[0, 70, 5, 70, 5, 75, 0, 75]]]
    assert ds.counts["masked_no_keypoints"] == 2 and ds.counts["people"] == 1
    cv2.imwrite(str(tmp_path / "abc.jpg"), np.zeros((100, 80, 3), np.uint8))
    masked, = write_ignore_masks(ds.samples, tmp_path / "masks")     # size read from the image itself
    keep = cv2.imread(masked.mask_path, cv2.IMREAD_GRAYSCALE)
    assert keep.shape == (100, 80) and keep[60, 50] == 0 and keep[10, 10] == 255
    data[0]["keypoint_annotations"]["human1"][8] = 4
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"record 0 \(image abc\), human1: visibility"):
        read_dataset("aic", path, tmp_path)


def _mat(path, joints_per_image):
    rec = np.zeros((1, len(joints_per_image)), dtype=[("image", "O"), ("size", "O"), ("joints", "O")])
    for i, people in enumerate(joints_per_image):
        rec[0, i]["image"] = f"im{i}.png"
        rec[0, i]["size"] = np.array([[3, 120, 160]])
        cell = np.empty((1, len(people)), dtype=object)
        for p, rows in enumerate(people):
            cell[0, p] = np.asarray(rows, np.float64)
        rec[0, i]["joints"] = cell
    scipy.io.savemat(str(path), {"dataset": rec})
    return path


def test_deepercut_mat_reader(tmp_path):
    path = _mat(tmp_path / "dataset.mat", [
        [[[0, 5, 6], [9, 50, 60], [15, 70, 80]], [[3, 1, 2]], []],
        []])
    ds = read_dataset("mpii", path)
    assert ds.layout is MPII16 and len(ds) == 1 and ds.counts["skipped_no_people"] == 1
    assert ds.counts["skipped_person_no_joints"] == 1
    s = ds[0]
    assert s.image_size == (160, 120) and s.image_path.endswith("im0.png") and s.num_people == 2
    assert s.keypoints[0, 9].tolist() == [50, 60, 2] and s.keypoints[0, 1, 2] == 0
    assert s.keypoints[1, 3].tolist() == [1, 2, 2]
    bad = _mat(tmp_path / "bad.mat", [[[[0, 5, 6]]], [[[16, 1, 1]]]])
    with pytest.raises(DatasetError, match=r"bad.mat: entry 1 \(image im1.png\), person 0: joint id 16"):
        read_dataset("mpii", bad)


def test_own_format_yaml_with_inline_layout_and_json(tmp_path):
    spec = {"layout": {"name": "arm3", "keypoints": ["left_hand", "right_hand", "head"],
                       "skeleton": [["left_hand", "head"], ["right_hand", "head"]]},
            "images_dir": "pics",
            "images": [{"file": "a.jpg", "width": 100, "height": 80,
                        "people": [{"keypoints": {"head": [50, 10], "left_hand": [70, 40, 1]}}],
                        "ignore": [[0, 0, 10, 0, 10, 10, 0, 10]]},
                       {"file": "b.jpg", "people": []}]}
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(spec))
    ds = read_dataset("own", path)
    assert ds.layout.name == "arm3" and ds.layout.flip_permutation.tolist() == [1, 0, 2]
    assert len(ds) == 1 and ds.counts["skipped_no_people"] == 1
    s = ds[0]
    assert s.image_path == str((tmp_path / "pics" / "a.jpg").resolve())
    assert s.keypoints[0].tolist() == [[70, 40, 1], [0, 0, 0], [50, 10, 2]]
    assert ignore_mask(s)[5, 5] == 0 and ignore_mask(s)[50, 50] == 1
    # Same thing as JSON with a named layout.
    spec2 = {"layout": "coco17", "images": [{"file": "c.png", "people": [
        {"keypoints": {"nose": [1, 2], "left_wrist": [3, 4]}, "box": [0, 0, 9, 9]}]}]}
    (tmp_path / "own.json").write_text(json.dumps(spec2))
    ds2 = read_dataset("own", tmp_path / "own.json")
    assert ds2.layout is COCO17 and ds2[0].keypoints[0, COCO17.index("left_wrist")].tolist() == [3, 4, 2]
    assert ds2[0].boxes[0].tolist() == [0, 0, 9, 9]
    spec2["images"][0]["people"][0]["keypoints"]["left_wing"] = [1, 1]
    (tmp_path / "own.json").write_text(json.dumps(spec2))
    with pytest.raises(DatasetError, match=r"images\[0\] \(c.png\), person 0: unknown keypoint 'left_wing'"):
        read_dataset("own", tmp_path / "own.json")


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(KeyError, match="unknown dataset format"):
        read_dataset("voc", tmp_path / "x.json")
    with pytest.raises(DatasetError, match="not found"):
        read_dataset("coco", tmp_path / "missing.json")


def test_coco_default_images_dir_follows_cocos_layout(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "val2017").mkdir()
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": [5, 5, 2] * 17}]}
    ann = tmp_path / "annotations" / "person_keypoints_val2017.json"
    ann.write_text(json.dumps(data))
    assert read_dataset("coco", ann)[0].image_path == str((tmp_path / "val2017" / "a.jpg").resolve())
