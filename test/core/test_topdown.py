"""Top-down multi-person pose on real models and real, human-labelled photos: the YOLOX person detector,
crops, the single-pose model on each crop, pipelines by name, streams, flip test, and bad input."""
import json
import shutil

import cv2
import numpy as np
import pytest

from pose_core import zoo
from pose_core.crops import cut_crop, fit_box
from pose_core.detectors import PersonBox, load_detector
from pose_core.errors import ChecksumError, ModelFileMissingError, UnknownModelError
from pose_core.estimators import load_estimator
from pose_core.image_io import read_image
from pose_core.topdown import TopDownEstimator

from conftest import PERSON_PHOTOS

THUNDER = "topdown/yolox-nano+movenet-thunder"


@pytest.fixture(scope="module")
def detector(models_dir):
    return load_detector("yolox/nano", models_dir=models_dir, threads=2)


@pytest.fixture(scope="module")
def thunder(models_dir):
    return load_estimator(THUNDER, models_dir=models_dir, threads=2)


@pytest.fixture(scope="module")
def dev_set(labelled_dir):
    gt = json.loads((labelled_dir / "dev_coco17.json").read_text())
    images = {i["id"]: read_image(labelled_dir / "images" / i["file_name"]) for i in gt["images"]}
    return gt, images


def _iou(a, b):
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# ---------------------------------------------------------------------- detector
def test_detector_finds_the_labelled_people(detector, dev_set):
    """Person boxes against the human-labelled boxes of the development set (real crowds, occlusion)."""
    gt, images = dev_set
    found = {iid: detector(img) for iid, img in images.items()}
    people = [a for a in gt["annotations"] if a["num_keypoints"] > 0]
    matched = 0
    for a in people:
        x, y, w, h = a["bbox"]
        matched += max([_iou((x, y, x + w, y + h), (b.x0, b.y0, b.x1, b.y1)) for b in found[a["image_id"]]],
                       default=0.0) >= 0.5
    assert matched >= 0.8 * len(people), f"{matched} of {len(people)} labelled people boxed at IoU 0.5"
    for iid, boxes in found.items():
        h, w = images[iid].shape[:2]
        assert all(0 <= b.x0 < b.x1 <= w and 0 <= b.y0 < b.y1 <= h for b in boxes)
        assert [b.score for b in boxes] == sorted((b.score for b in boxes), reverse=True)


def test_detector_people_photos_and_the_cat(detector, images_dir):
    for name in PERSON_PHOTOS:
        assert detector(read_image(images_dir / name)), name
    assert detector(read_image(images_dir / "cat.jpg")) == []


def test_detector_matches_the_upstream_onnx(detector, images_dir, models_dir):
    """The TFLite fp16 zoo file + our decoder give the boxes the upstream ONNX model gives."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is a test dependency (requirements/dev.txt)")
    session = ort.InferenceSession(str(models_dir / "detectors/yolox-nano/yolox_nano.onnx"),
                                   providers=["CPUExecutionProvider"])
    for name in ("p3.jpg", "apink1.jpg", "golf.jpg"):
        image = read_image(images_dir / name)
        tensor, transform = detector.preprocessor(image)
        raw = session.run(None, {session.get_inputs()[0].name: tensor.transpose(2, 0, 1)[None]})[0][0]
        reference = detector.decoder.decode([raw], (416, 416))
        ours = detector(image)
        assert len(ours) == len(reference), name
        for r in reference:
            (x0, y0), (x1, y1) = transform.to_image(np.array([[r.x0, r.y0], [r.x1, r.y1]], np.float32))
            assert max(_iou((x0, y0, x1, y1), (b.x0, b.y0, b.x1, b.y1)) for b in ours) > 0.9, name


def test_detector_file_missing_or_corrupt_is_refused(tmp_path, models_dir):
    with pytest.raises(ModelFileMissingError, match="yolox_nano_float16_quantize.tflite"):
        load_detector("yolox/nano", models_dir=tmp_path)
    copy = tmp_path / "detectors" / "yolox-nano"
    copy.mkdir(parents=True)
    data = bytearray((models_dir / "detectors/yolox-nano/yolox_nano_float16_quantize.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "yolox_nano_float16_quantize.tflite").write_bytes(bytes(data))
    with pytest.raises(ChecksumError):
        load_detector("yolox/nano", models_dir=tmp_path, verify=True)


# ---------------------------------------------------------------------- names
def test_pipeline_names_resolve_and_bad_parts_list_the_known_ones(models_dir):
    assert zoo.get_pipeline(THUNDER).pose == "movenet/thunder"
    assert zoo.get_pipeline("topdown:yolox/nano+pose-mobile/hourglass").detector == "yolox/nano"
    assert zoo.get_pipeline("movenet/thunder") is None
    assert THUNDER in zoo.known_names() and "yolox/nano" not in zoo.known_names()
    with pytest.raises(UnknownModelError, match="yolox/nano"):            # unknown detector: lists detectors
        load_estimator("topdown:nope/net+movenet/thunder", models_dir=models_dir)
    with pytest.raises(UnknownModelError, match="movenet/thunder"):       # unknown pose part: lists models
        load_estimator("topdown:yolox/nano+nope/net", models_dir=models_dir)
    with pytest.raises(UnknownModelError, match="DETECTOR"):
        load_estimator("topdown:yolox/nano", models_dir=models_dir)
    with pytest.raises(UnknownModelError, match="person detector"):       # a detector is not a pose model
        load_estimator("yolox/nano", models_dir=models_dir)
    with pytest.raises(ValueError, match="not a single-pose model"):
        load_estimator("topdown:yolox/nano+movenet/multipose-lightning", models_dir=models_dir)


# ---------------------------------------------------------------------- accuracy on real labels
def _coco_ap(gt, results):
    import contextlib
    import io

    from pycocotools.coco import COCO

    from pose_core.evaluation import evaluate_keypoints

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        return evaluate_keypoints(coco, results)


def test_topdown_finds_more_labelled_people_than_multipose(thunder, dev_set, models_dir):
    """COCO keypoint AP on real human labels: the top-down pipeline recalls at least as many labelled
    people as MoveNet MultiPose (capped at 6, misses small/occluded people) and scores a usable AP."""
    from pose_core.evaluation import to_results
    from pose_core.layouts import COCO17

    gt, images = dev_set
    multipose = load_estimator("movenet/multipose-lightning", models_dir=models_dir)
    stats = {}
    for name, est in (("topdown", thunder), ("multipose", multipose)):
        results = []
        for iid, img in images.items():
            people = est(img)
            assert all(p.layout is COCO17 for p in people)
            results += to_results(iid, people, COCO17)
        stats[name] = _coco_ap(gt, results)
    assert stats["topdown"]["AR50"] >= stats["multipose"]["AR50"], stats
    assert stats["topdown"]["AP"] >= 0.5, stats


def test_people_carry_their_box_and_original_pixel_keypoints(thunder, images_dir):
    image = read_image(images_dir / "p3.jpg")
    people = thunder(image)
    h, w = image.shape[:2]
    assert len(people) >= 2
    for p in people:
        x0, y0, x1, y1 = p.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        seen = p.keypoints[:, 2] > 0.3
        assert seen.sum() >= 5
        # The pose lies in (a margin around) the person's box, in original image pixels.
        kx, ky = p.keypoints[seen, 0], p.keypoints[seen, 1]
        bw, bh = x1 - x0, y1 - y0
        assert (kx > x0 - 0.15 * bw).all() and (kx < x1 + 0.15 * bw).all()
        assert (ky > y0 - 0.15 * bh).all() and (ky < y1 + 0.15 * bh).all()
        assert 0 < p.score <= 1
    assert thunder(read_image(images_dir / "cat.jpg")) == []


# ---------------------------------------------------------------------- crops and batching
def test_cut_crop_keeps_aspect_and_maps_back_exactly():
    image = np.zeros((120, 200, 3), np.uint8)
    image[70, 150] = 255
    region = fit_box((140, 40, 160, 100), aspect=192 / 256, margin=1.0)    # tall box, wider to 3:4
    assert (region[2] - region[0]) / (region[3] - region[1]) == pytest.approx(0.75)
    crop, transform = cut_crop(image, region, (192, 256))
    yy, xx = np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2])
    np.testing.assert_allclose(transform.to_image(np.array([[xx, yy]], np.float32))[0], (150, 70), atol=0.3)


def test_batched_crops_equal_one_by_one(models_dir, images_dir):
    """A TFLite single-pose model runs all crops of a frame as one batch, with the same result as
    crop by crop (pose-mobile hourglass resizes to N; MoveNet graphs unpack batch 1)."""
    est = load_estimator("topdown:yolox/nano+pose-mobile/hourglass", models_dir=models_dir, threads=2)
    assert est.batched
    image = read_image(images_dir / "p3.jpg")
    batched = est(image)
    est.batched = False
    single = est(image)
    assert len(batched) == len(single) >= 2
    for a, b in zip(batched, single):
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)
    assert not load_estimator("topdown/yolox-nano+movenet-lightning", models_dir=models_dir).batched


def test_tiny_boxes_are_skipped(thunder, images_dir):
    image = read_image(images_dir / "p3.jpg")
    assert thunder.estimate_in_boxes(image, [PersonBox(10, 10, 10.5, 40, 0.9), PersonBox(5, 5, 6, 6, 0.9)]) == []
    box = thunder.detector(image)[0]
    (person,) = thunder.estimate_in_boxes(image, [box, PersonBox(0, 0, 1, 1, 0.9)])
    assert person.box == (box.x0, box.y0, box.x1, box.y1)


# ---------------------------------------------------------------------- flip test
def test_flip_test_is_mirror_symmetric(models_dir, images_dir):
    """With the flip test, the pose of a mirrored crop is exactly the mirrored pose (left and right
    swapped): the network's output and its mirrored pass are averaged symmetrically."""
    est = load_estimator(THUNDER, models_dir=models_dir, flip_test=True)
    image = read_image(images_dir / "p2.jpg")
    h, w = image.shape[:2]
    boxes = est.detector(image)[:2]
    mirrored_boxes = [PersonBox(w - b.x1, b.y0, w - b.x0, b.y1, b.score) for b in boxes]
    people = est.estimate_in_boxes(image, boxes)
    mirrored = est.estimate_in_boxes(np.ascontiguousarray(image[:, ::-1]), mirrored_boxes)
    assert len(people) == len(mirrored) == len(boxes)
    perm = est.layout.flip_permutation
    for p in people:
        m = min(mirrored, key=lambda q: abs(q.box[0] - (w - p.box[2])))
        back = m.keypoints[perm].copy()
        back[:, 0] = w - 1 - back[:, 0]
        seen = (p.keypoints[:, 2] > 0) & (back[:, 2] > 0)
        assert seen.sum() >= 10
        np.testing.assert_allclose(back[seen, :2], p.keypoints[seen, :2], atol=1.5)
        np.testing.assert_allclose(back[:, 2], p.keypoints[:, 2], atol=0.02)


def test_single_pose_flip_test_in_the_plain_estimator(models_dir, images_dir):
    est = load_estimator("movenet/thunder", models_dir=models_dir, flip_test=True)
    (person,) = est(read_image(images_dir / "p1.jpg"))
    assert (person.keypoints[:, 2] > 0).sum() >= 10


# ---------------------------------------------------------------------- streams
def _stream(images_dir, frames=9):
    """A short real stream: a photo panned a few pixels per frame (people move, nobody enters)."""
    image = read_image(images_dir / "p3.jpg")
    h, w = image.shape[:2]
    for i in range(frames):
        yield np.ascontiguousarray(image[:, 2 * i: w - 2 * (frames - i)])


def test_stream_detects_every_n_frames_and_tracks_crops_between(models_dir, images_dir):
    est = load_estimator(THUNDER, models_dir=models_dir, stream=True, detect_every=3)
    counts = [len(est(frame)) for frame in _stream(images_dir)]
    assert est.detector_runs <= 4, f"detector ran on {est.detector_runs} of 9 frames"
    assert min(counts) >= 2 and max(counts) - min(counts) <= 1, counts
    every = load_estimator(THUNDER, models_dir=models_dir, stream=True, detect_every=1)
    for frame in _stream(images_dir):
        every(frame)
    assert every.detector_runs == 9


def test_stream_detects_again_when_a_person_is_lost(models_dir, images_dir):
    est = load_estimator(THUNDER, models_dir=models_dir, stream=True, detect_every=100)
    frames = list(_stream(images_dir, 3))
    assert est(frames[0])
    assert est.detector_runs == 1
    blank = np.zeros_like(frames[1])
    assert est(blank) == []                  # everyone lost: the detector looks again on this frame
    assert est.detector_runs == 2
    assert est(frames[2])                    # and again (no tracks left), finding the people
    assert est.detector_runs == 3
    est.reset()
    assert est.detector_runs == 0


def test_pose_video_with_a_pipeline(tmp_path, images_dir):
    """`pose video` runs a pipeline in stream mode on a real (generated) video file."""
    import os
    import subprocess
    import sys

    video = tmp_path / "clip.avi"
    frames = list(_stream(images_dir, 6))
    h, w = frames[-1].shape[:2]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    for f in frames:
        writer.write(cv2.resize(f, (w, h)))
    writer.release()
    out = tmp_path / "out.avi"
    r = subprocess.run([sys.executable, "-m", "pose_core.cli", "video", str(video), "--model", THUNDER,
                        "--detect-every", "3", "--out", str(out)], capture_output=True, text=True,
                       env=os.environ, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "6 frames" in r.stdout
    cap = cv2.VideoCapture(str(out))
    ok, first = cap.read()
    assert ok
    reference = cv2.resize(frames[0], (first.shape[1], first.shape[0]))      # the codec may round sizes
    assert (np.abs(first.astype(int) - reference.astype(int)).max(axis=2) > 100).sum() > 200   # drawn


def test_topdown_estimator_rejects_bad_settings(thunder):
    with pytest.raises(ValueError, match="margin"):
        TopDownEstimator(thunder.detector, thunder.pose, margin=0.5)
    with pytest.raises(ValueError, match="multi-scale"):
        load_estimator(THUNDER, scales=(1.0, 0.5))
    with pytest.raises(ValueError, match="crop tracking"):
        load_estimator(THUNDER, crop_tracking=True)


def test_pipeline_works_from_a_copied_models_dir(tmp_path, models_dir, images_dir):
    """A pipeline resolves both parts from one models directory (what `pose models fetch` fills)."""
    for rel in ("detectors/yolox-nano/yolox_nano_float16_quantize.tflite", "movenet/movenet-lightning.json",
                "movenet/movenet-lightning.bin"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(models_dir / rel, tmp_path / rel)
    est = load_estimator("topdown/yolox-nano+movenet-lightning", models_dir=tmp_path, verify=True)
    assert len(est(read_image(images_dir / "p3.jpg"))) >= 2


def test_duplicates_are_poses_not_boxes(thunder, images_dir):
    """Crowds: two people whose boxes overlap heavily are both kept; the same pose twice is kept once."""
    from pose_core.topdown import _keypoint_box, _suppress_duplicates

    image = read_image(images_dir / "p1.jpg")
    (a,) = thunder.estimate_in_boxes(image, thunder.detector(image)[:1])
    x0, y0, x1, y1 = _keypoint_box(a)
    b = type(a)(a.keypoints.copy(), a.score * 0.9, a.layout)
    b.keypoints[:, 0] += 0.15 * (x1 - x0)                  # a neighbour standing just beside
    box_iou = _iou((x0, y0, x1, y1), _keypoint_box(b))
    assert box_iou > 0.6
    assert len(_suppress_duplicates([a, b])) == 2
    c = type(a)(a.keypoints + [1.0, 1.0, 0.0], a.score * 0.8, a.layout)      # the same person again
    kept = _suppress_duplicates([c, a, b])
    assert len(kept) == 2 and kept[0] is a


def test_models_fetch_and_verify_take_a_pipeline_name(models_dir, capsys):
    """`pose models verify|fetch PIPELINE` works on the pipeline's detector and pose model."""
    from pose_core.cli import main

    assert main(["models", "verify", THUNDER, "--models-dir", str(models_dir)]) == 0
    out = capsys.readouterr().out
    assert "yolox/nano [tflite]" in out and "movenet/thunder [tfjs]" in out
    assert main(["models", "verify", "topdown:yolox/nano+nope/net", "--models-dir", str(models_dir)]) == 1
    assert "nope/net" in capsys.readouterr().err
