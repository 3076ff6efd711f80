"""device="gpu:0" on a machine without a GPU (every CI machine): the TensorFlow runtimes and the TFLite GPU
delegate fall back to the CPU with the promised log line, say so in `runtime.device`, and still find people.
Where a GPU exists the same request must run on it instead (allow-listed skip of the fallback checks)."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import cv2
import pytest

from conftest import ROOT, require

MODEL = "pose-mobile/cpm"          # small, single person; ships both a frozen graph and a TFLite file


def no_gpu() -> None:
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("needs a GPU-less machine: a GPU is visible here, gpu:0 runs on it")


@pytest.fixture(scope="module")
def photo(images_dir):
    return cv2.imread(str(require(images_dir / "p1.jpg", "test photo")))


@pytest.mark.parametrize("runtime, line", [
    ("frozen_graph", "device gpu:0 requested but 0 GPU(s) visible to TensorFlow; falling back to CPU"),
    ("tflite", "TFLite GPU delegate not available; falling back to CPU (XNNPACK, 2 threads)"),
])
def test_gpu_request_without_a_gpu_falls_back_to_cpu_with_one_log_line(models_dir, photo, runtime, line, caplog):
    from pose_core.estimator import PoseEstimator
    if runtime == "frozen_graph":
        no_gpu()
    with caplog.at_level(logging.INFO, logger="pose_core"):
        est = PoseEstimator.from_zoo(MODEL, runtime=runtime, device="gpu:0", threads=2, models_dir=models_dir)
    fallbacks = [r for r in caplog.records if "falling back to CPU" in r.getMessage()]
    if runtime == "tflite" and not fallbacks and est.runtime.device.startswith("gpu"):
        pytest.skip("needs a GPU: the TFLite GPU delegate loaded here, so there is no fallback to check")
    assert [r.getMessage() for r in fallbacks] == [line] and fallbacks[0].levelno == logging.WARNING
    assert est.runtime.kind == runtime and est.runtime.device.startswith("cpu"), est.runtime.device
    people = est(photo)
    assert len(people) == 1 and (people[0].keypoints[:, 2] > 0).sum() >= 8


def test_cli_gpu_request_prints_the_fallback_line_and_still_works(models_dir, images_dir, tmp_path):
    no_gpu()
    photo_path = require(images_dir / "p1.jpg", "test photo")
    run = subprocess.run([sys.executable, "-m", "pose_core.cli", "estimate", str(photo_path), "--model", MODEL,
                          "--runtime", "frozen_graph", "--device", "gpu:0", "--json", str(tmp_path / "p1.json")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "POSE_MODELS_DIR": str(models_dir)})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "falling back to CPU" in run.stderr
    (record,) = json.loads((tmp_path / "p1.json").read_text())
    assert len(record["persons"]) == 1
