"""Entry points wired end to end as a user starts them (separate processes, the installed console scripts):
`pose data-service` dispatcher + worker feeding `pose train --data-service`, `pose-train` and
`python training/train.py` on the same run, and every `pose_bag` command (write, record while play, info)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, require

BIN = Path(sys.executable).parent
TINY = ROOT / "training" / "configs" / "lightweight-openpose_mobilenetv1-a0.25_128x128_synthetic_ci.yaml"


def exe(name: str) -> str:
    path = BIN / name
    assert path.is_file(), f"console script {name} not installed in {BIN}"
    return str(path)


def start(*cmd) -> subprocess.Popen:
    return subprocess.Popen([str(c) for c in cmd], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))


def finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def interrupt(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    finish(proc, 60)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    from pose_core.data.synthetic import generate_dataset
    out = tmp_path_factory.mktemp("synthetic")
    return Path(generate_dataset(out, images=2, seed=3, size=(128, 128), people=(1, 2), occluder_prob=0.0,
                                 unlabelled_person_prob=0.0, crowd_prob=0.0))


def test_pose_train_data_service_then_pose_train_and_train_py_export(synthetic, tmp_path):
    """The trainer waits for the service's worker (no worker: no step), trains once the worker runs; then
    `pose-train` and `training/train.py` export that run (--export-only)."""
    work = tmp_path / "run"
    overrides = ["-o", f"data.annotations={synthetic}", "-o", "training.steps=2", "-o", "training.log_every=1",
                 "-o", "training.checkpoint_every=2", "-o", "export.at_end=false"]
    dispatcher = start(exe("pose"), "data-service", "dispatcher", "--port", "0")
    worker = trainer = None
    try:
        first = dispatcher.stdout.readline()
        address = re.search(r"grpc://\S+", first).group(0)
        trainer = start(exe("pose"), "train", TINY, *overrides, "--work-dir", work, "--no-progress",
                        "--data-service", address)
        end = time.monotonic() + 300
        while not work.exists() and trainer.poll() is None and time.monotonic() < end:
            time.sleep(0.5)
        time.sleep(10)
        assert trainer.poll() is None and not list(work.rglob("ckpt-2")), \
            "trained without the service's worker: --data-service was not used"
        worker = start(exe("pose"), "data-service", "worker", "--dispatcher", address)
        out, err = finish(trainer)
        assert trainer.returncode == 0, (out[-1500:], err[-3000:])
        assert list(work.rglob("ckpt-2")), list(work.rglob("*"))
    finally:
        for proc in (trainer, worker, dispatcher):
            if proc is not None:
                interrupt(proc)

    for cmd in ([exe("pose-train")], [sys.executable, ROOT / "training" / "train.py"]):
        export = work / "export"
        if export.exists():
            import shutil
            shutil.rmtree(export)
        proc = start(*cmd, TINY, *overrides, "--work-dir", work, "--export-only")
        out, err = finish(proc)
        assert proc.returncode == 0, (cmd, out[-1500:], err[-3000:])
        assert (export / "model.yaml").is_file(), cmd


def test_pose_bag_write_record_play_info(images_dir, tmp_path):
    """A bag of the photos (3 passes) played into the graph; the recorder keeps the first 5 it receives
    (the first frames can go out before the recorder's side of discovery has finished: not counted)."""
    require(images_dir / "p1.jpg", "test photos")
    bag, recorded = tmp_path / "photos_bag", tmp_path / "recorded"
    r = subprocess.run([exe("pose_bag"), "write", str(bag), "--source", str(images_dir), "--topic", "/cam/image",
                        "--repeat", "3", "--rate", "5"], capture_output=True, text=True, timeout=120)
    written = int(re.search(r"wrote (\d+) frames", r.stdout).group(1)) if r.returncode == 0 else 0
    assert written >= 15, (r.stdout, r.stderr)
    rec = start(exe("pose_bag"), "record", recorded, "--topic", "/cam/image:sensor_msgs/msg/Image",
                "--max-messages", "5", "--duration", "120")
    try:
        play = subprocess.run([exe("pose_bag"), "play", str(bag), "--rate", "1", "--wait-subscribers", "1"],
                              capture_output=True, text=True, timeout=180)
        assert play.returncode == 0 and f"published {written} messages" in play.stdout, play.stderr
        out, err = finish(rec, 120)
        assert rec.returncode == 0 and "recorded 5 messages" in out, (out, err)
    finally:
        interrupt(rec)
    for path, n in ((bag, written), (recorded, 5)):
        r = subprocess.run([exe("pose_bag"), "info", str(path)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert f"{n} messages" in r.stdout and f"/cam/image [sensor_msgs/msg/Image] {n} msgs" in r.stdout, r.stdout
