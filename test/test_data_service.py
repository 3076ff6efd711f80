"""tf.data service: a dispatcher and TWO worker processes on 127.0.0.1, started with the console-script
module, serve exactly the elements the local pipeline makes for the same seed."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pose_core.codecs.paf import PafCodec
from pose_core.data.pipeline import make_dataset
from pose_core.data.readers import read_dataset
from pose_core.data.synthetic import generate_dataset
from pose_core.layouts import OPENPOSE18

INPUT = (184, 184)


def _start(args, pattern, procs, log_dir):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")   # TF's log goes to a file for post-mortems
    log = open(log_dir / f"{args[0]}{len(procs)}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "pose_core.cli.data_service", *args], stdout=subprocess.PIPE,
                            stderr=log, text=True, env=env)
    procs.append(proc)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise RuntimeError(f"data service {args[0]} exited with {proc.returncode}")
        match = re.search(pattern, line)
        if match:
            return match.group(1), Path(log.name)
    raise RuntimeError(f"data service {args[0]} did not start")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    logs = tmp_path_factory.mktemp("service_logs")
    procs = []
    try:
        port, _ = _start(["dispatcher", "--port", "0"], r"grpc://localhost:(\d+)", procs, logs)
        # A worker registers with the dispatcher before its server reports that it listens, so both take
        # part in the job below (dynamic sharding hands elements to every registered worker).
        for _ in range(2):
            _start(["worker", "--dispatcher", f"127.0.0.1:{port}", "--host", "127.0.0.1"], r"port (\d+)", procs,
                   logs)
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
