"""Model file missing at startup: the node logs one clear line and exits non-zero (no half-alive node)."""
from __future__ import annotations

import os
import subprocess

import pytest

pytest.importorskip("rclpy")
from conftest import ROOT  # noqa: E402
from ros_graph import start_node  # noqa: E402

CONFIG = ROOT / "config"


def test_missing_model_file_at_startup_exits_non_zero_with_one_clear_line(models_dir, tmp_path):
    empty_models = tmp_path / "models"
    empty_models.mkdir()
    missing_path = tmp_path / "exported" / "model.yaml"
    logs = {k: tmp_path / f"{k}.log" for k in ("zoo_file_missing", "path_missing")}
    os.environ["POSE_MODELS_DIR"] = str(empty_models)        # the zoo model's file is not there
    try:
        procs = {
            "zoo_file_missing": start_node([CONFIG / "pose_node.yaml", CONFIG / "tf-pose_mobilenet_v2_small.yaml"],
                                           log_path=logs["zoo_file_missing"]),
            "path_missing": start_node([CONFIG / "pose_node.yaml"], {"model": str(missing_path)},
                                       log_path=logs["path_missing"]),
        }
    finally:
        os.environ["POSE_MODELS_DIR"] = str(models_dir)
    for name, proc in procs.items():
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"{name}: node kept running without a model")
        text = logs[name].read_text()
        fatal = [line for line in text.splitlines() if "[FATAL]" in line]
        assert code != 0, text[-2000:]
        assert len(fatal) == 1 and "cannot start" in fatal[0], text[-2000:]
        assert "Traceback" not in text
    assert "mobilenet_v2_small" in logs["zoo_file_missing"].read_text()
    assert str(missing_path.parent.name) in logs["path_missing"].read_text()
