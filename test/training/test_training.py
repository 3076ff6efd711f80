"""Training: recipes, schedules, losses, and real (tiny) training runs on the synthetic dataset:
overfit + decode through the exported zoo model, SIGKILL + automatic resume, crash-safe checkpoints."""
from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pose_core.errors import CheckpointError
from pose_core.training.checkpoints import AtomicCheckpointer
from pose_core.training.losses import PoseLoss
from pose_core.training.recipe import RecipeError, load_recipe
from pose_core.training.schedules import build_lr_schedule

from conftest import ROOT

CONFIGS = ROOT / "training" / "configs"
TINY = CONFIGS / "lightweight-openpose_mobilenetv1-a0.25_128x128_synthetic_ci.yaml"
RECIPES = sorted(p for p in CONFIGS.glob("*.yaml") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """Two 128x128 images with one or two figures each (COCO-format annotations)."""
    from pose_core.data.synthetic import generate_dataset
    out = tmp_path_factory.mktemp("synthetic")
    return Path(generate_dataset(out, images=2, seed=3, size=(128, 128), people=(1, 2),
                                 occluder_prob=0.0, unlabelled_person_prob=0.0, crowd_prob=0.0))


def _tiny(synthetic: Path, work_dir: Path, *overrides: str) -> dict:
    return load_recipe(TINY, [f"data.annotations={synthetic}", f"work_dir={work_dir}",
                              "training.progress=false", *overrides])


# ---- recipes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_loads_and_fits_its_builder(path, monkeypatch):
    import importlib

    from pose_core.models import MODELS
    monkeypatch.setenv("POSE_DATA", "/data")
    recipe = load_recipe(path)
    module, func = MODELS[recipe["model"]["name"]].split(":")
    builder = getattr(importlib.import_module(module), func)
    inspect.signature(builder).bind(**recipe["model"]["params"])   # every param is a real one
    build_lr_schedule(recipe["training"]["lr"])
    assert "${" not in recipe["data"]["annotations"]              # ${POSE_DATA} expanded


def test_staged_lightweight_openpose_recipe_chain():
    stages = [load_recipe(CONFIGS / f"lightweight-openpose_mobilenetv1_368x368_coco_{s}.yaml")
              for s in ("stage1-backbone", "stage2-weights-only", "stage3-refine3")]
    assert [r["training"]["steps"] for r in stages] == [420000, 280000, 370000]
    assert [r["model"]["params"]["num_refinement_stages"] for r in stages] == [1, 1, 3]
    # Each later stage starts "weights only" from the previous stage's last checkpoint.
    for prev, cur in zip(stages, stages[1:]):
        assert cur["model"]["init_checkpoint"] == f"{prev['work_dir']}/checkpoints/ckpt-{prev['training']['steps']}"


def test_recipe_errors_name_the_field(tmp_path):
    with pytest.raises(RecipeError, match="training.steps"):
        load_recipe(TINY, ["training.steps=0"])
    with pytest.raises(RecipeError, match="unknown recipe section"):
        load_recipe(TINY, ["trainig.steps=5"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(RecipeError, match="invalid YAML"):
        load_recipe(bad)
    assert load_recipe(TINY, ["training.lr.value=0.5"])["training"]["lr"]["value"] == 0.5


def test_cli_reports_bad_recipe_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pose_core.cli", "train", str(tmp_path / "nope.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("pose train: error: cannot read recipe")


# ---- schedules and losses --------------------------------------------------------------------------

def test_deepercut_multi_step_schedule():
    s = build_lr_schedule({"schedule": "multi_step",
                           "steps": [[0.005, 10000], [0.02, 430000], [0.002, 730000], [0.001, 1030000]]})
    got = [float(s(step)) for step in (0, 9999, 10001, 429999, 430001, 730001, 2000000)]
    assert np.allclose(got, [0.005, 0.005, 0.02, 0.02, 0.002, 0.001, 0.001])
    s = build_lr_schedule({"schedule": "multi_step", "base": 4e-5, "milestones": [10, 20], "gamma": 0.333})
    assert np.allclose([float(s(0)), float(s(15)), float(s(25))], [4e-5, 4e-5 * 0.333, 4e-5 * 0.333 ** 2])
    e = build_lr_schedule({"schedule": "exponential", "base": 1e-3, "decay_steps": 100, "decay_rate": 0.95,
                           "staircase": True})
    assert np.isclose(float(e(250)), 1e-3 * 0.95 ** 2)
    w = build_lr_schedule({"schedule": "constant", "value": 1e-3, "warmup_steps": 10})
    assert np.allclose([float(w(0)), float(w(4)), float(w(9)), float(w(500))], [1e-4, 5e-4, 1e-3, 1e-3])
    with pytest.raises(RecipeError, match="increase"):
        build_lr_schedule({"schedule": "multi_step", "steps": [[0.1, 10], [0.01, 5], [0.001, 20]]})


def test_loss_is_masked_supervises_every_stage_and_weights_locref():
    rng = np.random.default_rng(0)
    t = {"heatmaps": rng.random((2, 4, 4, 3), np.float32), "pafs": rng.random((2, 4, 4, 4), np.float32),
         "masks": np.ones((2, 4, 4, 1), np.float32)}
    outputs = {"stage1_heatmaps": tf.zeros((2, 4, 4, 3)), "stage1_pafs": tf.zeros((2, 4, 4, 4)),
               "stage2_heatmaps": tf.constant(t["heatmaps"]), "stage2_pafs": tf.zeros((2, 4, 4, 4))}
    total, terms = PoseLoss(2)(outputs, t)
    assert set(terms) == set(outputs)
    assert float(terms["stage2_heatmaps"]) == 0.0
    assert np.isclose(float(terms["stage1_heatmaps"]), 0.5 * (t["heatmaps"] ** 2).sum() / 2, rtol=1e-5)
    assert np.isclose(float(total), sum(float(v) for v in terms.values()), rtol=1e-5)
    # A zero mask removes the loss there (crowds, unlabelled people).
    t0 = dict(t, masks=np.zeros((2, 4, 4, 1), np.float32))
    assert float(PoseLoss(2)(outputs, t0)[0]) == 0.0
    # Locref: Huber only where the locref mask is set, times locref_weight.
    loc = {"locref": tf.fill((1, 2, 2, 2), 3.0)}
    lt = {"locref": np.zeros((1, 2, 2, 2), np.float32), "locref_mask": np.zeros((1, 2, 2, 2), np.float32)}
    lt["locref_mask"][0, 0, 0] = 1
    _, terms = PoseLoss(1, locref_weight=0.05)(loc, lt)
    assert np.isclose(float(terms["locref"]), 0.05 * (3.0 - 0.5))   # Huber(3, delta 1) = 2.5 per entry
    with pytest.raises(RecipeError, match="no 'pafs' target"):
        PoseLoss(2)({"stage1_pafs": tf.zeros((2, 4, 4, 4))}, {"heatmaps": t["heatmaps"]})


# ---- checkpoints -----------------------------------------------------------------------------------

def _tracked():
    v = tf.Variable(np.arange(4, dtype=np.float32))
    return v, tf.train.Checkpoint(v=v)


def test_checkpoint_crash_mid_save_leaves_latest_intact(tmp_path, monkeypatch):
    v, ckpt = _tracked()
    saver = AtomicCheckpointer(tmp_path, ckpt, keep=2)
    saver.save(10)
    v.assign(v + 100)
    real_write = ckpt.write

    def dying_write(prefix):     # the process "dies" after writing part of the new checkpoint
        real_write(prefix)
        Path(prefix + ".index").write_bytes(b"truncated")
        raise KeyboardInterrupt
    monkeypatch.setattr(ckpt, "write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        saver.save(20)
    assert saver.latest().name == "ckpt-10"
    assert list(tmp_path.glob(".tmp-*"))                      # the half-written one never got its name
    v2, ckpt2 = _tracked()
    restarted = AtomicCheckpointer(tmp_path, ckpt2, keep=2)   # a new run cleans up and restores step 10
    assert not list(tmp_path.glob(".tmp-*"))
    restarted.restore()
    assert np.array_equal(v2.numpy(), np.arange(4))
    for step in (30, 40, 50):
        restarted.save(step)
    assert restarted.steps() == [40, 50]                      # keep=2
    bad = tf.train.Checkpoint(v=tf.Variable(np.zeros(7, np.float32)))
    with pytest.raises(CheckpointError, match="does not match"):
        AtomicCheckpointer(tmp_path, bad).restore()


# ---- real training runs ----------------------------------------------------------------------------

def _matched_errors(people, gt_people):
    """Mean keypoint error (px) of the best-matching detection for each ground-truth person."""
    errs = []
    for gt in gt_people:
        best = np.inf
        for p in people:
            both = (gt[:, 2] > 0) & (p.keypoints[:, 2] > 0)
            if both.sum() >= 0.5 * (gt[:, 2] > 0).sum():
                best = min(best, float(np.linalg.norm(p.keypoints[both, :2] - gt[both, :2], axis=1).mean()))
        errs.append(best)
    return errs


def _scalars(log_dir: Path) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for f in log_dir.glob("events.out.tfevents.*"):
        for rec in tf.data.TFRecordDataset(str(f)):
            event = tf.compat.v1.Event.FromString(rec.numpy())
            for v in event.summary.value:
                if v.metadata.plugin_data.plugin_name == "scalars":
                    out.setdefault(v.tag, {})[event.step] = float(tf.make_ndarray(v.tensor))
                elif v.metadata.plugin_data.plugin_name == "images":
                    out.setdefault(v.tag, {})[event.step] = 1.0
    return out


def test_tiny_model_overfits_and_exported_model_decodes_its_training_people(synthetic, tmp_path):
    import cv2

    from pose_core.data.readers import read_coco
    from pose_core.data.sample import to_layout
    from pose_core.estimator import PoseEstimator
    from pose_core.layouts import OPENPOSE18
    from pose_core.training.trainer import Trainer

    recipe = _tiny(synthetic, tmp_path / "run")
    result = Trainer(recipe).fit()
    assert result["steps"] == recipe["training"]["steps"] and not result["stopped_early"]

    scalars = _scalars(tmp_path / "run" / "tensorboard")
    losses = scalars["loss/total"]
    first, last = losses[min(losses)], losses[max(losses)]
    assert last < 0.5 * first, losses
    assert {"lr", "images_per_sec", "loss/stage1_heatmaps", "loss/stage2_pafs", "predicted_heatmaps"} <= set(scalars)

    # The exported zoo-format model, through the estimator (preprocessing + PafCodec), finds each person.
    est = PoseEstimator.from_file(str(tmp_path / "run" / "export"))
    samples = to_layout(list(read_coco(synthetic)), OPENPOSE18)
    for s in samples:
        people = est(cv2.imread(s.image_path))
        errs = _matched_errors(people, s.keypoints)
        assert max(errs) < 4.0, (s.image_path, errs, len(people))

    # `pose eval --model` on the same images: most people found at OKS 0.5. Not all: on 60 px figures OKS
    # is strict (a 3 px error on an eye alone scores ~0.2), so with the 1-3 px errors checked above one of
    # the three people dropped under OKS 0.5 in 2 of ~15 full runs; the pixel check above is the precise one.
    out = tmp_path / "eval.json"
    from pose_core.cli import main
    assert main(["eval", "--gt", str(synthetic), "--model", str(tmp_path / "run" / "export"),
                 "--out", str(out)]) == 0
    stats = json.loads(out.read_text())["stats"]
    assert stats["AP50"] > 0.5 and stats["AR50"] >= 0.6, stats


def _train_subprocess(recipe_args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pose_core.cli", "train", str(TINY), *recipe_args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_sigkill_then_resume_continues_step_and_optimizer_state(synthetic, tmp_path):
    work = tmp_path / "run"
    args = ["-o", f"data.annotations={synthetic}", "--work-dir", str(work), "--no-progress",
            "-o", "training.steps=100000", "-o", "training.checkpoint_every=5", "-o", "training.keep_checkpoints=3",
            "-o", "export.at_end=false"]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    ckpts = work / "checkpoints"

    def steps_on_disk():
        return sorted(int(p.name.split("-")[1]) for p in ckpts.glob("ckpt-*")) if ckpts.exists() else []

    def run_until(min_step: int, sig: int) -> subprocess.Popen:
        proc = _train_subprocess(args, env)
        deadline = time.time() + 150
        try:
            while time.time() < deadline and proc.poll() is None:
                if steps_on_disk() and steps_on_disk()[-1] >= min_step:
                    break
                time.sleep(0.2)
            assert proc.poll() is None, proc.stdout.read()
            proc.send_signal(sig)
            proc.wait(timeout=60)
        finally:
            proc.kill()
            proc.wait()
        return proc, proc.stdout.read()

    # SIGTERM: the step in flight finishes, a checkpoint is written at exactly that step, exit 0.
    proc, _ = run_until(10, signal.SIGTERM)
    assert proc.returncode == 0
    stopped_at = steps_on_disk()[-1]
    assert stopped_at >= 10
    # SIGKILL: no chance to clean up, possibly mid-save. That run had resumed from `stopped_at`.
    proc, log = run_until(stopped_at + 10, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL and f"at step {stopped_at}" in log, log[-2000:]
    latest = steps_on_disk()[-1]
    assert latest >= stopped_at + 10 and latest % 5 == 0
    reader = tf.train.load_checkpoint(str(ckpts / f"ckpt-{latest}" / "state"))
    saved = {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}

    from pose_core.training.trainer import Trainer
    trainer = Trainer(_tiny(synthetic, work, f"training.steps={latest + 3}", "training.checkpoint_every=5",
                            "export.at_end=false"))
    assert trainer.restored is not None and trainer.step == latest           # same step...
    assert int(saved["optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"]) == latest
    # ...and the optimizer state (Adam moments) is the saved one, value for value.
    compared = 0
    for i, var in enumerate(trainer.optimizer.variables):
        key = f"optimizer/_variables/{i}/.ATTRIBUTES/VARIABLE_VALUE"
        if key in saved and saved[key].size > 1:
            np.testing.assert_array_equal(var.numpy(), saved[key])
            compared += 1
    assert compared > 10 and any(np.abs(v.numpy()).sum() > 0 for v in trainer.optimizer.variables[1:])
    result = trainer.fit()
    assert result["start_step"] == latest and result["steps"] == latest + 3
    assert (ckpts / f"ckpt-{latest + 3}").is_dir()

    # Export on demand from the newest checkpoint: a zoo entry the estimator can load.
    from pose_core.cli import main
    from pose_core.estimator import PoseEstimator
    assert main(["train", str(TINY), "-o", f"data.annotations={synthetic}", "--work-dir", str(work),
                 "--export-only"]) == 0
    assert PoseEstimator.from_file(str(work / "export")).layout.name == "openpose18"


def test_trainer_takes_batches_from_tf_data_service(synthetic, tmp_path):
    """`pose train --data-service grpc://...`: the augmented elements are produced by a tf.data service
    worker (here in-process on 127.0.0.1), the trainer only consumes them."""
    from tensorflow.data.experimental import service

    from pose_core.training.trainer import Trainer
    dispatcher = service.DispatchServer(service.DispatcherConfig(port=0))
    address = dispatcher.target.split("://")[1]
    worker = service.WorkerServer(service.WorkerConfig(dispatcher_address=address, port=0))
    recipe = _tiny(synthetic, tmp_path / "run", "training.steps=4", "training.log_every=2",
                   "export.at_end=false", "data.augment={flip_prob: 0.5}")
    assert worker._num_tasks() == 0
    result = Trainer(recipe, data_service=dispatcher.target).fit()
    assert result["steps"] == 4 and np.isfinite(result["loss"])
    # The elements really came through the service: the dispatcher knows its worker, and the worker ran the
    # trainer's dataset as a task (a trainer that ignored data_service would leave it at 0).
    assert dispatcher._num_workers() == 1
    assert worker._num_tasks() >= 1
    del worker, dispatcher


_MIRRORED = r'''
import sys, json, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pose_core.training.recipe import load_recipe
from pose_core.training.trainer import Trainer
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
recipe = load_recipe(sys.argv[1], sys.argv[2:])
trainer = Trainer(recipe, strategy=strategy)
# One global batch by hand: its split over the replicas, and the reduced loss of one step vs the per-replica
# losses computed here on each replica's half (before that step's update; BN sees each half, as in the step).
images, targets = next(iter(trainer._dataset(seed=0)))
local_images = strategy.experimental_local_results(images)
local_targets = [tf.nest.map_structure(lambda t: strategy.experimental_local_results(t)[i], targets)
                 for i in range(len(local_images))]
by_hand = 0.0
for im, tg in zip(local_images, local_targets):
    total = trainer.loss(trainer.model(im, training=True), tg)[0]
    if trainer.model.losses:
        total += tf.add_n(trainer.model.losses) / strategy.num_replicas_in_sync
    by_hand += float(total)
stepped = float(trainer._make_train_step()(images, targets)[0])
trainer.optimizer.iterations.assign(0)       # the run below starts from step 0 (weights moved one step)
result = trainer.fit()
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "steps": result["steps"], "loss": result["loss"],
                  "checkpoint": result["checkpoint"], "global_batch": trainer.cfg["batch_size"],
                  "local_batches": [int(x.shape[0]) for x in local_images], "by_hand": by_hand,
                  "stepped": stepped}))
'''


def test_mirrored_strategy_over_two_replicas(synthetic, tmp_path):
    """The multi-GPU path (MirroredStrategy), on two logical CPU devices: the global batch splits over
    the replicas, per-replica losses reduce to one, checkpoints and step counting work the same."""
    args = [f"data.annotations={synthetic}", f"work_dir={tmp_path / 'run'}", "training.progress=false",
            "training.steps=4", "training.log_every=2", "training.checkpoint_every=2", "export.at_end=false"]
    proc = subprocess.run([sys.executable, "-c", _MIRRORED, str(TINY), *args], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2 and out["steps"] == 4 and np.isfinite(out["loss"])
    assert out["checkpoint"].endswith("ckpt-4")
    # The global batch splits evenly; the step's loss is the SUM-reduction of the per-replica losses (each
    # scaled by the global batch): one number for the global batch, not a replica's nor twice it.
    assert out["local_batches"] == [out["global_batch"] // 2] * 2
    assert out["stepped"] == pytest.approx(out["by_hand"], rel=1e-3) and out["stepped"] > 0


_WORKER = r'''
import sys, json
from pose_core.training.recipe import load_recipe
from pose_core.training.trainer import Trainer
trainer = Trainer(load_recipe(sys.argv[1], sys.argv[2:]))   # distribute: auto -> TF_CONFIG -> multi-worker
result = trainer.fit()
print(json.dumps({"strategy": type(trainer.strategy).__name__, "chief": trainer.chief,
                  "replicas": trainer.strategy.num_replicas_in_sync, "steps": result["steps"],
                  "loss": result["loss"]}))
'''


def _free_ports(n: int) -> list[int]:
    import socket
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multi_worker_mirrored_strategy_from_tf_config(synthetic, tmp_path):
    """Two worker processes on 127.0.0.1 (TF_CONFIG), as on two machines: one synchronous run, the chief
    (worker 0) alone writes checkpoints; a second launch of both resumes from the shared directory."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}

    def launch(steps):
        args = [f"data.annotations={synthetic}", f"work_dir={tmp_path / 'run'}", "training.progress=false",
                f"training.steps={steps}", "training.log_every=1", "training.checkpoint_every=2",
                "export.at_end=false"]
        procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(TINY), *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=dict(
                                      os.environ, CUDA_VISIBLE_DEVICES="",
                                      TF_CONFIG=json.dumps({"cluster": cluster,
                                                            "task": {"type": "worker", "index": i}})))
                 for i in range(2)]
        outs = []
        for p in procs:
            try:
                out, err = p.communicate(timeout=240)
            finally:
                p.kill()
            assert p.returncode == 0, err[-3000:]
            outs.append(json.loads(out.strip().splitlines()[-1]))
        return outs

    first = launch(2)
    assert [o["chief"] for o in first] == [True, False]
    assert all("MultiWorker" in o["strategy"] or "CollectiveAllReduce" in o["strategy"] for o in first), first
    assert all(o["replicas"] == 2 and o["steps"] == 2 for o in first), first
    assert first[0]["loss"] == pytest.approx(first[1]["loss"])   # one synchronous computation
    ckpts = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["ckpt-2"]
    assert not list((tmp_path / "run").glob(".worker-*"))         # the non-chief's scratch saves are gone
    second = launch(4)
    assert all(o["steps"] == 4 for o in second) and (ckpts / "ckpt-4").is_dir()


def test_weights_only_stage_start_from_previous_stage_checkpoint(synthetic, tmp_path):
    """The staged recipe: a 3-refinement-stage model starts from a 1-refinement-stage checkpoint by layer
    name (shared layers copied, new stages random), with a fresh optimizer at step 0."""
    from pose_core.models import build_model
    from pose_core.training.trainer import Trainer

    params = load_recipe(TINY)["model"]["params"]
    previous = build_model("lightweight_openpose", **params)
    ckpt = AtomicCheckpointer(tmp_path / "stage2", tf.train.Checkpoint(model=previous), model=previous).save(7)
    trainer = Trainer(_tiny(synthetic, tmp_path / "stage3", "model.params.num_refinement_stages=3",
                            f"model.init_checkpoint={ckpt}"))
    assert trainer.step == 0 and trainer.restored is None
    for name in ("model.1.3", "cpm.align.0", "initial_stage.heatmaps.1.0", "refinement_stages.0.trunk.0.initial.0"):
        for new, old in zip(trainer.model.get_layer(name).weights, previous.get_layer(name).weights):
            np.testing.assert_array_equal(new.numpy(), old.numpy())
    assert {"stage4_heatmaps", "stage4_pafs"} <= set(trainer.model.output)
