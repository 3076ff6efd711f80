"""`make demo` (scripts/demo.sh): source node + pose node with the default model + listener, end to end."""
from __future__ import annotations

import os
import re
import subprocess

from conftest import PERSON_PHOTOS, ROOT, require


def test_demo_prints_a_line_per_frame_and_writes_annotated_images(models_dir, images_dir, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in PERSON_PHOTOS[:3]:
        (photos / name).symlink_to(require(images_dir / name, "test photo"))
    out = tmp_path / "out"
    env = dict(os.environ, POSE_MODELS_DIR=str(models_dir), RATE="2")
    run = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh"), str(photos), str(out)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("frame ")]
    assert len(lines) == 3, run.stdout
    for ln in lines:
        m = re.search(r"people (\d+) .* latency\s+([\d.]+) ms", ln)
        assert m and int(m.group(1)) >= 1 and float(m.group(2)) > 0, ln
    from pose_core.defaults import DEFAULT_MODEL
    assert DEFAULT_MODEL in lines[0]                            # the default model, named in one place
    assert len(list(out.glob("frame_*.jpg"))) == 3
