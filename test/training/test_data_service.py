"""tf.data service: a dispatcher and TWO worker processes on 127.0.0.1, started with the console-script
module, serve exactly the elements the local pipeline makes for the same seed."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from pose_core.codecs.paf import PafCodec
from pose_core.data.pipeline import make_dataset
from pose_core.data.readers import read_dataset
from pose_core.data.synthetic import generate_dataset
from pose_core.layouts import OPENPOSE18

# pycocotools (not our code) warns about numpy 2 copy semantics on every mask decode.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")

INPUT = (184, 184)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(args, log_dir, name):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")   # TF's log goes to a file for post-mortems
    log = open(log_dir / f"{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "pose_core.cli.data_service", *args], stdout=subprocess.PIPE,
                            stderr=log, text=True, env=env)


def _wait_ready(proc, name, pattern):
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise RuntimeError(f"data service {name} exited with {proc.returncode}")
        if re.search(pattern, line):
            return
    raise RuntimeError(f"data service {name} did not start")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    logs = tmp_path_factory.mktemp("service_logs")
    port = _free_port()
    procs = []
    try:
        # All three start at once (TensorFlow's import dominates); workers retry until the dispatcher is up,
        # and a worker registers with the dispatcher before it reports that it listens, so both take part
        # in the job below (dynamic sharding hands elements to every registered worker).
        procs.append(_spawn(["dispatcher", "--port", str(port)], logs, "dispatcher"))
        for i in range(2):
            procs.append(_spawn(["worker", "--dispatcher", f"127.0.0.1:{port}", "--host", "127.0.0.1"], logs,
                                f"worker{i}"))
        _wait_ready(procs[0], "dispatcher", rf"grpc://localhost:{port}")
        for i, proc in enumerate(procs[1:]):
            _wait_ready(proc, f"worker{i}", r"worker listening on port \d+")
        yield f"grpc://127.0.0.1:{port}", procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _by_index(ds):
    out = {}
    for images, targets, meta in ds:
        for j, g in enumerate(meta["index"].numpy()):
            assert g not in out, f"element {g} served twice"
            out[int(g)] = (images[j].numpy(), {k: v[j].numpy() for k, v in targets.items()})
    return out


def test_two_workers_serve_the_local_pipeline_elements(service, tmp_path):
    address, procs = service
    samples = read_dataset("coco", generate_dataset(tmp_path / "d", images=6, seed=4, crowd_prob=0.5))
    common = dict(samples=samples, layout=OPENPOSE18, codec=PafCodec(OPENPOSE18), input_size=INPUT, batch_size=4,
                  seed=21, epochs=2, return_meta=True, mask_dir=tmp_path / "masks")
    local = _by_index(make_dataset(**common))
    remote = _by_index(make_dataset(**common, data_service=address, job_name=None))
    assert all(p.poll() is None for p in procs)                 # dispatcher and both workers still up
    assert sorted(local) == sorted(remote) == list(range(12))  # two epochs, every element exactly once
    for g, (image, targets) in local.items():
        r_image, r_targets = remote[g]
        np.testing.assert_array_equal(image, r_image)
        assert targets.keys() == r_targets.keys() == {"heatmaps", "pafs", "masks"}
        for key in targets:
            np.testing.assert_array_equal(targets[key], r_targets[key])


def test_port_in_use_is_one_readable_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "pose_core.cli.data_service", "dispatcher", "--port", str(port)],
                                capture_output=True, text=True, timeout=120,
                                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 1
    assert f"pose data-service: error: could not start the tf.data service dispatcher on port {port}" in result.stderr
    assert "Traceback" not in result.stderr
