"""Fine-tuning published weights on real labelled photos, end to end (docs/training.md, "Fine-tune on
your own photos"): Intel's Lightweight OpenPose imported from its OpenVINO IR, trained a few dozen steps
at a small input size on the shared labelled photos (COCO-17 human labels; POSE_LABELLED_DIR), with
validation AP on held-out photos through `pose eval`'s predict_dataset.

One training run serves the module: it starts as a `pose train` process that is killed with SIGKILL
after its second checkpoint, and is resumed in this process from the newest checkpoint on disk.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from conftest import PERSON_PHOTOS, ROOT, require

RECIPE = ROOT / "training" / "configs" / "lightweight-openpose_mobilenetv1_456x256_own_finetune-omz.yaml"
STEPS, CHECKPOINT_EVERY = 16, 4


@pytest.fixture(scope="module")
def omz_folder(models_dir, tmp_path_factory) -> Path:
    from pose_core.cli import main
    xml = require(models_dir / "omz/human-pose-estimation-0001/human-pose-estimation-0001.xml", "OMZ IR")
    out = tmp_path_factory.mktemp("imported") / "omz"
    assert main(["import", "openvino", str(xml), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def split(labelled_dir, tmp_path_factory) -> Path:
    """5 training photos, 2 held out (seeded split by image id)."""
    from pose_core.data.split import main
    out = tmp_path_factory.mktemp("split")
    assert main([str(require(labelled_dir / "dev_coco17.json", "labels")), "--val", "2", "--out", str(out)]) == 0
    return out


def _overrides(omz_folder: Path, split: Path, labelled: Path, work_dir: Path) -> list[str]:
    # Small and quick: the model's serving size 456x256, batch 2; backbone frozen for 4 steps. Validation
    # at steps 0, 8, 16 on all 7 photos (17 people): the 2 held-out ones alone hold 6 people, too few for
    # a stable AP (one person's keypoints moving by a pixel or two moves it by several points).
    images = labelled / "images"
    return [f"model.init_from={omz_folder}", f"data.annotations={split / 'train.json'}", f"data.images={images}",
            f"validation.annotations={labelled / 'dev_coco17.json'}", f"validation.images={images}",
            "data.input_size=[456,256]", "training.batch_size=2", f"training.steps={STEPS}",
            "training.freeze.steps=4", "training.lr.warmup_steps=4", "validation.every=8",
            f"training.checkpoint_every={CHECKPOINT_EVERY}", "training.keep_checkpoints=10",
            "training.log_every=4", "training.image_every=8",
            "training.progress=false", f"work_dir={work_dir}"]


def _checkpoint_steps(work_dir: Path) -> list[int]:
    d = work_dir / "checkpoints"
    return sorted(int(p.name.split("-")[1]) for p in d.glob("ckpt-*") if (p / "state.index").exists()) \
        if d.exists() else []


@pytest.fixture(scope="module")
def run(omz_folder, split, labelled_dir, tmp_path_factory):
    """(killed-at checkpoint step, resumed trainer's start step, fit() result, work_dir)."""
    from pose_core.training.recipe import load_recipe
    from pose_core.training.trainer import Trainer

    work_dir = tmp_path_factory.mktemp("finetune") / "run"
    overrides = _overrides(omz_folder, split, labelled_dir, work_dir)
    log = work_dir.parent / "train.log"
    cmd = [sys.executable, "-m", "pose_core.cli", "train", str(RECIPE)]
    for o in overrides:
        cmd += ["-o", o]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=work_dir.parent)
    try:
        deadline = time.monotonic() + 240
        while len(_checkpoint_steps(work_dir)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, f"training ended before it could be killed: {log.read_text()[-2000:]}"
        assert len(_checkpoint_steps(work_dir)) >= 2, f"no second checkpoint: {log.read_text()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed_at = _checkpoint_steps(work_dir)[-1]
    assert killed_at < STEPS
    trainer = Trainer(load_recipe(RECIPE, overrides))
    start = trainer.step
    result = trainer.fit()
    return killed_at, start, result, work_dir


def test_kill_9_and_resume_lands_on_the_checkpointed_step(run):
    killed_at, start, result, work_dir = run
    assert start == killed_at and result["start_step"] == killed_at
    assert result["steps"] == STEPS and not result["stopped_early"]
    # The killed run's step-0 validation survived (validation.jsonl) and was not repeated.
    steps = [r["step"] for r in result["validation"]]
    assert steps.count(0) == 1 and steps[-1] == STEPS


def test_loss_on_the_training_photos_goes_down_and_ap_holds(run):
    _, _, result, work_dir = run
    history = {r["step"]: r for r in result["validation"]}
    before, after = history[0], history[STEPS]
    print(f"\nfine-tune {STEPS} steps: training-photo loss {before['train_photos_loss']:.2f} -> "
          f"{after['train_photos_loss']:.2f}; AP on the 7 photos {before['AP']:.4f} -> {after['AP']:.4f} "
          f"(AP50 {before['AP50']:.4f} -> {after['AP50']:.4f})")
    assert after["train_photos_loss"] < before["train_photos_loss"]
    assert before["AP"] > 0.3                       # the published weights work on these photos
    assert after["AP"] >= before["AP"] - 0.05       # and fine-tuning did not break them
    best = json.loads((work_dir / "best" / "best.json").read_text())
    assert best["AP"] == max(r["AP"] for r in result["validation"])
    # TensorBoard got the validation scalars and the predicted maps.
    import tensorflow as tf
    tags = set()
    for f in (work_dir / "tensorboard").glob("events.out.tfevents.*"):
        for rec in tf.data.TFRecordDataset(str(f)):
            tags |= {v.tag for v in tf.compat.v1.Event.FromString(rec.numpy()).summary.value}
    assert {"val/AP", "val/train_photos_loss", "loss/total", "lr", "predicted_heatmaps", "predicted_pafs"} <= tags


def test_backbone_stays_frozen_for_the_first_steps(run, omz_folder):
    """ckpt-4 ends the 4 frozen steps: the MobileNet backbone still holds the imported weights, the heads
    moved; at ckpt-16 the backbone has moved too."""
    import numpy as np

    from pose_core.models import build_model
    from pose_core.training.init_from import load_init_from
    _, _, _, work_dir = run

    def weights(ckpt=None):
        model = build_model("lightweight_openpose", layout="openpose18", num_refinement_stages=1,
                            num_channels=128, alpha=1.0, cpm="icv")
        if ckpt:
            model.load_weights(work_dir / "checkpoints" / ckpt / "model.weights.h5")
        else:
            load_init_from(model, omz_folder)
        return {w.path: w.numpy() for w in model.weights}

    start, frozen_end, last = weights(), weights("ckpt-4"), weights(f"ckpt-{STEPS}")
    backbone = [k for k in start if k.startswith("model.") and "moving" not in k]
    heads = [k for k in start if not k.startswith("model.") and "moving" not in k]
    assert backbone and heads
    assert all(np.array_equal(start[k], frozen_end[k]) for k in backbone)
    assert any(not np.array_equal(start[k], frozen_end[k]) for k in heads)
    assert any(not np.array_equal(start[k], last[k]) for k in backbone)


def test_exported_tflite_finds_people_in_the_estimator(run, images_dir):
    from pose_core.estimator import PoseEstimator
    _, _, result, work_dir = run
    export = work_dir / "export"
    assert (export / "model_fp32.tflite").is_file() and (export / "model.yaml").is_file()
    est = PoseEstimator.from_file(export, runtime="tflite")
    people = est(cv2.imread(str(require(images_dir / PERSON_PHOTOS[0], "photo"))))
    assert len(people) >= 1 and people[0].layout.name == "openpose18"


def test_exported_tflite_served_by_a_node_process(run, images_dir, tmp_path):
    pytest.importorskip("rclpy")
    from ros_graph import GraphClient, start_node, stop
    _, _, _, work_dir = run
    log = tmp_path / "pose_node.log"
    proc = start_node([ROOT / "config" / "pose_node.yaml"],
                      {"model": str(work_dir / "export"), "runtime": "tflite"}, log_path=log)
    client = GraphClient("pose_finetune_test")
    try:
        client.wait_connected(120, proc)
        image = cv2.imread(str(require(images_dir / PERSON_PHOTOS[0], "photo")))
        client.warm_up(image, proc=proc)
        result = client.request(client.image_msg(image, time.time(), "camera_optical"), 60.0)
        assert result is not None, f"no PersonArray: {log.read_text()[-1500:]}"
        assert result.layout == "openpose18" and len(result.persons) >= 1
    finally:
        client.close()
        stop(proc)


# ---- bad input -------------------------------------------------------------------------------------

def test_missing_and_corrupt_images_are_named_skipped_and_counted(labelled_dir, tmp_path, caplog):
    from pose_core.layouts import OPENPOSE18
    from pose_core.training.data import read_training_samples

    images = tmp_path / "images"
    shutil.copytree(labelled_dir / "images", images)
    (images / "aic_03.jpg").unlink()                                  # listed, not on disk
    (images / "aic_04.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")   # corrupt
    data = {"format": "coco", "annotations": str(labelled_dir / "dev_coco17.json"), "images": str(images)}
    skipped: dict = {}
    with caplog.at_level("WARNING"):
        samples = read_training_samples(data, OPENPOSE18, skipped)
    assert len(samples) == 5
    assert [Path(p).name for p in skipped["missing"]] == ["aic_03.jpg"]
    assert [Path(p).name for p in skipped["corrupt"]] == ["aic_04.jpg"]
    assert "aic_03.jpg" in caplog.text and "aic_04.jpg" in caplog.text and "skipped 2 of 7" in caplog.text
    # What is left goes through the TF pipeline (which would have failed on the corrupt file).
    from pose_core.codecs import build_codec
    from pose_core.data.pipeline import make_dataset
    codec = build_codec("paf", OPENPOSE18)
    batches = list(make_dataset(samples, OPENPOSE18, codec, (128, 128), 5, training=False))
    assert sum(int(b[0].shape[0]) for b in batches) == 5


def test_keypoint_names_that_do_not_match_say_which_and_offer_the_mapping(tmp_path):
    from pose_core.errors import DatasetError
    from pose_core.layouts import COCO17, OPENPOSE18
    from pose_core.training.data import read_training_samples

    cv2.imwrite(str(tmp_path / "a.png"), __import__("numpy").full((64, 64, 3), 90, "uint8"))
    names = [n.replace("left_", "l_").replace("right_", "r_") for n in COCO17.keypoints]
    own = tmp_path / "own.yaml"
    own.write_text(json.dumps({"layout": {"name": "ours", "keypoints": names},
                               "images": [{"file": "a.png", "people": [{"keypoints": {
                                   n: [10 + i, 20 + i] for i, n in enumerate(names)}}]}]}))
    data = {"format": "own", "annotations": str(own)}
    with pytest.raises(DatasetError) as err:
        read_training_samples(data, OPENPOSE18)
    msg = str(err.value)
    assert "left_shoulder" in msg and "right_ankle" in msg and "neck" in msg        # what is missing
    assert "data.keypoint_map" in msg and "l_shoulder: left_shoulder" in msg       # the offered mapping
    mapping = {n: c for n, c in zip(names, COCO17.keypoints) if n != c}
    samples = read_training_samples(dict(data, keypoint_map=mapping), OPENPOSE18)
    assert len(samples) == 1 and samples[0].layout.keypoints == COCO17.keypoints


def test_warm_up_ramps_again_when_the_backbone_joins():
    from pose_core.training.schedules import build_lr_schedule
    lr = build_lr_schedule({"schedule": "constant", "value": 1.0, "warmup_steps": 4, "rewarm_at": 10})
    values = [round(float(lr(s)), 4) for s in (0, 3, 5, 9, 10, 11, 13, 20)]
    assert values == [0.25, 1.0, 1.0, 1.0, 0.25, 0.5, 1.0, 1.0]


def test_init_from_names_the_mismatch(omz_folder, tmp_path):
    from pose_core.training.init_from import resolve_init_from
    from pose_core.training.recipe import RecipeError, load_recipe

    recipe = load_recipe(RECIPE, [f"model.init_from={omz_folder}", "model.name=tfpose_mobilenet_v2_small"])
    with pytest.raises(RecipeError, match="differs from the architecture"):
        resolve_init_from(recipe)
    with pytest.raises(RecipeError, match="model.yaml not found"):
        resolve_init_from(load_recipe(RECIPE, [f"model.init_from={tmp_path}"]))
    recipe = load_recipe(RECIPE, [f"model.init_from={omz_folder}"])
    resolve_init_from(recipe)
    assert recipe["model"]["params"]["input_size"] == [456, 256]   # the folder's serving size
