"""Every benchmark entry point (benchmarks/, and `pose bench`) runs as a user runs it, on a tiny input, and
writes its table into the --out folder: a smoke test of the argument handling and the table code, so a
benchmark cannot rot unnoticed between the runs that make the docs' numbers. No timing is asserted (numbers
on a shared CI machine mean nothing).

Not here: benchmarks/serve_install.py installs `.[serve]` from the package registry (CI tests run without
the network; test_footprint checks the same extras offline)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, require

SMALL_MODEL = "pose-mobile/cpm"       # TFLite, 192x192, single person: the quickest zoo model


@pytest.fixture(scope="module")
def photos(images_dir, tmp_path_factory) -> Path:
    """Three photos (p3.jpg: the node benchmark's frame): the benchmarks' image loops stay short."""
    out = tmp_path_factory.mktemp("bench_photos")
    for name in ("p1.jpg", "hand1.jpg", "p3.jpg"):
        shutil.copy(require(images_dir / name, "test photo"), out / name)
    return out


def run(cmd: list, tmp_path: Path, photos: Path, models_dir: Path, timeout: int = 600, **env) -> str:
    environ = {**os.environ, "POSE_MODELS_DIR": str(models_dir), "POSE_TEST_IMAGES": str(photos),
               "PYTHON": sys.executable, **env}
    proc = subprocess.run([str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=environ)
    assert proc.returncode == 0, (proc.stdout[-1500:], proc.stderr[-3000:])
    return proc.stdout


def table_rows(text: str, *names: str) -> list[str]:
    """Markdown table rows (not header/separator) naming one of `names`; at least one each."""
    rows = [line for line in text.splitlines() if line.startswith("|") and not set(line) <= set("|-: ")]
    for name in names:
        assert any(name in r for r in rows), f"no table row names {name!r}:\n{text[-2000:]}"
    return rows


SCRIPTS = sorted(f.name for f in (ROOT / "benchmarks").glob("*.py")
                 if f.name != "table_output.py" and "add_out_argument(" in f.read_text())


def test_every_python_benchmark_takes_an_out_folder():
    assert len(SCRIPTS) >= 12, SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_bad_out_folder_fails_in_one_line_before_any_work(tmp_path, script):
    """--out naming a file: refused while the arguments are parsed (argparse's usage line, then one error
    line, exit 2), not after minutes of measuring with a traceback."""
    taken = tmp_path / "a_file.md"
    taken.write_text("keep me\n")
    proc = subprocess.run([sys.executable, f"benchmarks/{script}", "--out", str(taken)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and proc.stdout == "", (proc.stdout, proc.stderr)
    assert lines[-1] == f"{script}: error: argument --out: {taken} exists and is not a folder", proc.stderr
    assert "Traceback" not in proc.stderr and taken.read_text() == "keep me\n"


def test_architecture_cost(tmp_path, photos, models_dir):
    run([sys.executable, "benchmarks/architecture_cost.py", "--models", "cpm_mobilenet_v2", "--runs", "1",
         "--threads", "1", "--out", tmp_path], tmp_path, photos, models_dir)
    table_rows((tmp_path / "architecture_cost.md").read_text(), "cpm_mobilenet_v2")


def test_input_pipeline(tmp_path, photos, models_dir):
    run([sys.executable, "benchmarks/input_pipeline.py", "--images", "4", "--input", "96", "--batch", "2",
         "--batches", "2", "--repeats", "1", "--service-workers", "0", "--work-dir", tmp_path / "data",
         "--out", tmp_path], tmp_path, photos, models_dir)
    assert len(table_rows((tmp_path / "input_pipeline.md").read_text())) >= 3   # read+decode, + augmentation, + targets


def test_decoder_speed(tmp_path, photos, models_dir):
    stdout = run([sys.executable, "benchmarks/decoder_speed.py", "--out", tmp_path], tmp_path, photos, models_dir)
    assert len(table_rows(stdout)) >= 3
    assert len(table_rows((tmp_path / "decoder_speed.md").read_text())) >= 3


def test_pose_bench_cli(tmp_path, photos, models_dir):
    run([sys.executable, "-m", "pose_core.cli", "bench", "--models", SMALL_MODEL, "--repeat", "1",
         "--images", photos, "--out", tmp_path / "bench"], tmp_path, photos, models_dir)
    tables = list((tmp_path / "bench").glob("*.md"))
    assert tables and table_rows(tables[0].read_text(), SMALL_MODEL)


def test_zoo_runtimes(tmp_path, photos, models_dir):
    run([sys.executable, "benchmarks/zoo_runtimes.py", "--models", SMALL_MODEL, "--pipelines", "",
         "--no-decode", "--repeat", "1", "--threads", "1", "--cache", tmp_path / "cache", "--images", photos,
         "--out", tmp_path], tmp_path, photos, models_dir)
    table_rows((tmp_path / "zoo_runtimes.md").read_text(), SMALL_MODEL)


def test_accuracy_speed(tmp_path, photos, models_dir, labelled_dir):
    run([sys.executable, "benchmarks/accuracy_speed.py", "--models", SMALL_MODEL, "--repeat", "1",
         "--threads", "1", "--labelled", labelled_dir, "--images", photos, "--out", tmp_path],
        tmp_path, photos, models_dir)
    table_rows((tmp_path / "accuracy_speed.md").read_text(), SMALL_MODEL)


def test_yolox_detectors(tmp_path, photos, models_dir):
    stdout = run([sys.executable, "benchmarks/yolox_detectors.py", "--images", photos, "--repeat", "1",
                  "--threads", "1", "--models-dir", models_dir, "--out", tmp_path], tmp_path, photos, models_dir)
    assert len(table_rows(stdout)) >= 3
    assert len(table_rows((tmp_path / "yolox_detectors.md").read_text())) >= 3


def test_train_vs_input_rate(tmp_path, photos, models_dir):
    run([sys.executable, "benchmarks/train_vs_input_rate.py", "--batch", "1", "--steps", "1", "--images", "2",
         "--image-size", "160x120", "--out", tmp_path], tmp_path, photos, models_dir)
    assert len(table_rows((tmp_path / "train_vs_input_rate.md").read_text())) >= 3


def test_imported_models_script(tmp_path, photos, models_dir):
    out = tmp_path / "import"
    run(["bash", "benchmarks/imported_models.sh", "--out", out, "--repeat", "1"], tmp_path, photos, models_dir)
    table_rows((out / "imported_models.md").read_text(), "tf-pose/mobilenet_v2_small")


def test_node_latency_script(tmp_path, photos, models_dir):
    run(["bash", "benchmarks/node_latency.sh", "--models", SMALL_MODEL, "--frames", "3", "--seconds", "1",
         "--out", tmp_path], tmp_path, photos, models_dir)
    table_rows((tmp_path / "node_latency.md").read_text(), SMALL_MODEL)


def test_node_footprint(tmp_path, photos, models_dir):
    run([sys.executable, "benchmarks/node_footprint.py", "--models", SMALL_MODEL, "--frames", "3", "--runs", "1",
         "--cameras", "1", "--camera-seconds", "1", "--images", photos, "--out", tmp_path],
        tmp_path, photos, models_dir)
    table_rows((tmp_path / "node_footprint.md").read_text(), SMALL_MODEL)


def test_node_startup(tmp_path, photos, models_dir):
    stdout = run([sys.executable, "benchmarks/node_startup.py", "1", "--out", tmp_path], tmp_path, photos,
                 models_dir, MODEL=SMALL_MODEL)
    assert f"pose_node start-up ({SMALL_MODEL})" in stdout and "median" in stdout
    table_rows((tmp_path / "node_startup.md").read_text(), SMALL_MODEL)


def test_export_fidelity(tmp_path, photos, models_dir):
    stdout = run([sys.executable, "benchmarks/export_fidelity.py", "--steps", "2", "--images", photos,
                  "--work", tmp_path / "work", "--out", tmp_path], tmp_path, photos, models_dir)
    rows = table_rows(stdout, "tflite_fp32", "tflite_int8")
    assert len(rows) == 8 + 2                  # 4 formats x 2 models, plus the 2 header rows
    assert table_rows((tmp_path / "export_fidelity.md").read_text()) == rows
