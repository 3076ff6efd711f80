"""Light on the robot: with a TFLite model or a cached TFLite conversion, the node, the CLI (`pose estimate`,
`pose video`) and the Python API serve without TensorFlow in the process, and a `.[serve]` install (no
TensorFlow installed at all) runs them.

The converted-model cache lives in a tmp dir (POSE_CACHE_DIR), warmed once with `pose models fetch
movenet/thunder --convert` (that process needs TensorFlow; every process checked here starts after it).
Each check runs in a fresh process: the real CLI entry point, the real node over DDS. A control in each
group loads a TF runtime in the same way and must see TensorFlow, so the check itself can fail.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import cv2
import pytest
import tomllib

from conftest import ROOT, require

DEFAULT_PIPELINE_CONFIG = "topdown_yolox-nano+movenet-thunder.yaml"
CONVERTED = "movenet/thunder"          # the default pipeline's pose model: TF.js source, cached TFLite

# A fresh process runs the real `pose` CLI, then says which heavy modules it holds.
CLI_PROBE = """
import json, sys
from pose_core.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print("PROBE " + json.dumps({"code": code, "tensorflow": "tensorflow" in sys.modules,
                             "keras": "keras" in sys.modules}))
"""


@pytest.fixture(scope="module")
def env(models_dir, images_dir, tmp_path_factory):
    """Environment of every checked process: the shared models, a warm converted-model cache of our own."""
    cache = tmp_path_factory.mktemp("converted")
    e = dict(os.environ, POSE_MODELS_DIR=str(models_dir), POSE_CACHE_DIR=str(cache))
    e.pop("POSE_CONVERT", None)
    warm = subprocess.run([sys.executable, "-m", "pose_core.cli", "models", "fetch", CONVERTED, "--convert"],
                          env=e, capture_output=True, text=True, timeout=600)
    assert warm.returncode == 0, warm.stdout + warm.stderr
    assert list(cache.glob("movenet_thunder-*.tflite")), "the conversion did not land in the cache"
    return e


def cli(env: dict, *argv: str, cwd: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", CLI_PROBE, *argv], env=env, capture_output=True, text=True,
                       cwd=cwd, timeout=600)
    line = [x for x in r.stdout.splitlines() if x.startswith("PROBE ")]
    assert line, f"no probe line; stdout={r.stdout[-1500:]} stderr={r.stderr[-1500:]}"
    return json.loads(line[-1][6:]) | {"stdout": r.stdout, "stderr": r.stderr}


def test_cli_estimate_and_video_do_not_import_tensorflow(env, images_dir, tmp_path):
    photo = require(images_dir / "p1.jpg", "p1.jpg")
    out = cli(env, "estimate", str(photo), "--json", str(tmp_path / "people.json"), cwd=tmp_path)
    assert out["code"] == 0, out["stderr"][-2000:]
    people = json.loads((tmp_path / "people.json").read_text())
    assert "1 person(s)" in out["stdout"] and people
    assert not out["tensorflow"] and not out["keras"]

    video = tmp_path / "clip.avi"
    img = cv2.imread(str(photo))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (img.shape[1], img.shape[0]))
    for _ in range(4):
        writer.write(img)
    writer.release()
    out = cli(env, "video", str(video), "--out", str(tmp_path / "annotated.avi"), cwd=tmp_path)
    assert out["code"] == 0, out["stderr"][-2000:]
    assert (tmp_path / "annotated.avi").stat().st_size > 0 and "4 frames" in out["stdout"]
    assert not out["tensorflow"]

    # Control: the same probe on a TF runtime sees TensorFlow.
    out = cli(env, "estimate", "--model", "movenet/lightning", "--runtime", "tfjs", str(photo), "--json",
              str(tmp_path / "tf.json"), cwd=tmp_path)
    assert out["code"] == 0 and out["tensorflow"], out["stderr"][-2000:]


def test_python_api_does_not_import_tensorflow(env, images_dir):
    code = f"""
import sys
import cv2
from pose_core.defaults import DEFAULT_MODEL
from pose_core.estimators import load_estimator
est = load_estimator(DEFAULT_MODEL)
people = est(cv2.imread({str(require(images_dir / "p2.jpg", "p2.jpg"))!r}))
print("PEOPLE", len(people), "TF", "tensorflow" in sys.modules, est.runtime.kind)
"""
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    line = next(x for x in r.stdout.splitlines() if x.startswith("PEOPLE"))
    _, n, _, tf, kind = line.split()
    assert int(n) >= 1 and tf == "False" and kind == "tflite"


def test_node_serves_a_frame_without_tensorflow(env, images_dir, tmp_path, monkeypatch):
    rclpy = pytest.importorskip("rclpy")  # noqa: F841
    from ros_graph import GraphClient, start_node, stop

    for k in ("POSE_MODELS_DIR", "POSE_CACHE_DIR"):
        monkeypatch.setenv(k, env[k])            # start_node passes this process's environment on
    log = tmp_path / "pose_node.log"
    proc = start_node([ROOT / "config" / "pose_node.yaml", ROOT / "config" / DEFAULT_PIPELINE_CONFIG],
                      {"diagnostics_period": 0.2}, name="pose_node_footprint", log_path=log)
    client = GraphClient("footprint_test", node_name="pose_node_footprint")
    try:
        client.wait_connected(120, proc)
        img = cv2.imread(str(require(images_dir / "p3.jpg", "p3.jpg")))
        client.warm_up(img, proc=proc)
        result = client.request(client.image_msg(img, time.time(), "camera_optical"))
        assert result is not None and len(result.persons) >= 1

        def diag(key, value):
            return lambda: client.latest_diagnostics().get(key) == value
        assert client.wait_for(diag("tensorflow_loaded", "false"), 30), client.latest_diagnostics()
        assert float(client.latest_diagnostics()["rss_mb"]) > 0
        assert "(TensorFlow not loaded)" in log.read_text()

        # Control: the same node with its pose model on the TF.js graph runtime now holds TensorFlow.
        (res,) = client.set_parameters(runtime="tfjs")
        assert res.successful, res.reason
        assert client.wait_for(diag("tensorflow_loaded", "true"), 30), client.latest_diagnostics()
    finally:
        client.close()
        stop(proc)


# ---------------------------------------------------------------------------------- the .[serve] extras
def _serve_closure() -> list[metadata.Distribution]:
    """The distributions pyproject's `serve` extra pulls in (with their own requirements), as installed in
    this venv."""
    from packaging.requirements import Requirement

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    todo = [Requirement(r) for r in extras["serve"]]
    seen: dict[str, metadata.Distribution] = {}
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = req.name.lower().replace("_", "-")
        if key in seen:
            continue
        dist = metadata.distribution(req.name)
        assert req.specifier.contains(dist.version, prereleases=True), f"{req} vs installed {dist.version}"
        seen[key] = dist
        todo += [Requirement(r) for r in dist.requires or []]
    return list(seen.values())


@pytest.fixture(scope="module")
def serve_venv(tmp_path_factory) -> Path:
    """A venv holding ONLY the `.[serve]` distributions (linked from this venv's files) and the project: what
    `pip install .[serve]` gives a robot, built without the network (benchmarks/serve_install.py does the
    real install from the registry)."""
    root = tmp_path_factory.mktemp("serve")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    pkgs = root / "site"
    pkgs.mkdir()
    dists = _serve_closure()
    names = {d.metadata["Name"].lower() for d in dists}
    assert "tensorflow" not in names and "keras" not in names, names
    for dist in dists:
        for f in dist.files or []:
            top = f.parts[0]
            if top == ".." or (pkgs / top).exists():
                continue
            (pkgs / top).symlink_to(Path(dist.locate_file(top)).resolve())
    site = next((root / "venv" / "lib").glob("python3*")) / "site-packages"
    (site / "serve.pth").write_text(f"{pkgs}\n{ROOT}\n")
    return root / "venv" / "bin" / "python"


def test_serve_install_runs_the_cli_without_tensorflow_installed(serve_venv, env, images_dir, tmp_path):
    py = str(serve_venv)
    no_tf = subprocess.run([py, "-c", "import tensorflow"], capture_output=True, text=True)
    assert no_tf.returncode != 0 and "No module named 'tensorflow'" in no_tf.stderr
    photo = str(require(images_dir / "p1.jpg", "p1.jpg"))
    for model in ("pose-mobile/cpm", "topdown/yolox-nano+movenet-thunder"):   # TFLite; cached conversion
        r = subprocess.run([py, "-m", "pose_core.cli", "estimate", "--model", model, photo, "--json",
                            str(tmp_path / "people.json")], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{model}: {r.stderr[-2000:]}"
        assert "1 person(s)" in r.stdout
    # A TF.js model without its conversion cached: one line saying what to do, no traceback.
    cold = dict(env, POSE_CACHE_DIR=str(tmp_path / "empty_cache"))
    r = subprocess.run([py, "-m", "pose_core.cli", "estimate", "--model", "movenet/lightning", photo],
                       env=cold, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "needs TensorFlow, which is not installed" in r.stderr and "--convert" in r.stderr
