"""Issue 10 for the library and the CLI, as a user runs them: every wrong input gets one clear line (exit 2
for a wrong argument, 1 for a bad image), never a silent empty result, a traceback or TensorFlow's log noise.
CLI cases run the real console scripts as subprocesses; estimator cases run the real model."""
from __future__ import annotations

import importlib.metadata
import os
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from pose_core.errors import ImageError
from pose_core.quiet import NATIVE_LOG_LINE

from conftest import ROOT, require

BIN = Path(sys.executable).parent


def run(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ))


def pose(*args, timeout=300) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "pose_core.cli", *args, timeout=timeout)


def lines(r: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]


def error_lines(r: subprocess.CompletedProcess) -> list[str]:
    return [line for line in r.stderr.splitlines() if line.startswith("pose")]


def png_header(w: int, h: int) -> bytes:
    """A valid PNG signature, IHDR (with its CRC) and a small IDAT: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 4096)))


def bmp_header(w: int, h: int) -> bytes:
    """BITMAPFILEHEADER + BITMAPINFOHEADER of a 24-bit w x h BMP, with 1 KB of pixel data only."""
    row = (w * 3 + 3) // 4 * 4
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, row * h, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + row * h, 0, 0, 54) + info + b"\0" * 1024


@pytest.fixture(scope="module")
def person(images_dir) -> Path:
    return require(images_dir / "p1.jpg", "test photo")


# ------------------------------------------------------------------------------------ float images
@pytest.fixture(scope="module")
def estimator(models_dir):
    os.environ["POSE_MODELS_DIR"] = str(models_dir)
    from pose_core.estimators import load_estimator
    return load_estimator("movenet/multipose-lightning")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_image_0_to_255_finds_the_same_people_as_uint8(estimator, person, dtype):
    img = cv2.imread(str(person))
    ref = estimator(img)
    assert len(ref) >= 1
    for scaled in (img.astype(dtype), img.astype(dtype) / 255.0):    # 0..255 and 0..1 floats
        got = estimator(scaled)
        assert len(got) == len(ref)
        np.testing.assert_allclose(got[0].keypoints, ref[0].keypoints, atol=1.0)


@pytest.mark.parametrize("values", [(-1.0, 1.0), (0.0, 4095.0)])
def test_float_image_out_of_both_ranges_is_refused_with_its_range(estimator, values):
    img = np.linspace(*values, 64 * 64 * 3, dtype=np.float32).reshape(64, 64, 3)
    with pytest.raises(ImageError, match="expected 0..1 or 0..255"):
        estimator(img)


# ------------------------------------------------------------------------------------ scales
@pytest.mark.parametrize("scales", ["0", "-1", "1,0,75", "nan", "inf", "1,abc", ""])
def test_bad_scales_are_one_line_and_exit_2(person, scales):
    r = pose("estimate", person, "--scales", scales)
    assert r.returncode == 2, r.stderr
    assert len(lines(r)) == 1 and "--scales" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_scaled_network_input_over_the_limit_is_refused_not_allocated(models_dir, tmp_path):
    from pose_core.estimators import load_estimator
    os.environ["POSE_MODELS_DIR"] = str(models_dir)
    est = load_estimator("tf-pose/mobilenet_v2_small", input_size="native", scales=(1.0, 4.0))
    img = np.full((1200, 1200, 3), 128, np.uint8)          # x4 = 4800x4800 = 23 MP network input
    with pytest.raises(ImageError, match="network input .* over the"):
        est(img)
    with pytest.raises(ValueError, match="out of range"):
        load_estimator("tf-pose/mobilenet_v2_small", input_size="native", scales=(1.0, 75.0))


# ------------------------------------------------------------------------------------ size from the header
def test_oversized_images_are_refused_from_the_header_in_every_format(models_dir, tmp_path):
    files = {"bomb.png": png_header(20000, 20000), "bomb.bmp": bmp_header(12000, 12000)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    gray = np.zeros((7200, 7200), np.uint8)                  # 51.8 MP, a few KB encoded
    for ext in (".tiff", ".webp"):
        assert cv2.imwrite(str(tmp_path / f"big{ext}"), gray)
    names = ["bomb.png", "bomb.bmp", "big.tiff", "big.webp"]
    r = pose("estimate", *[tmp_path / n for n in names], "--model", "pose-mobile/hourglass")
    assert r.returncode == 1, r.stderr
    errs = error_lines(r)
    assert len(errs) == len(names), r.stderr
    for name, line in zip(names, errs):
        assert name in line and "too large" in line and "per its header" in line, line
    assert "Traceback" not in r.stderr


def test_corrupt_bytes_after_a_png_signature_say_corrupt(tmp_path, person):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + np.random.default_rng(0).integers(0, 256, 300, np.uint8).tobytes())
    r = pose("estimate", bad, person, "--model", "pose-mobile/hourglass")
    assert r.returncode == 1
    (line,) = error_lines(r)
    assert "broken.png" in line and "corrupt" in line and "too large" not in line


# ------------------------------------------------------------------------------------ output paths
@pytest.mark.parametrize("case", ["json_is_a_folder", "out_is_a_file", "json_under_a_file"])
def test_output_paths_are_checked_before_any_work(tmp_path, person, case):
    a_file = tmp_path / "taken.txt"
    a_file.write_text("x")
    args = {"json_is_a_folder": ["--json", tmp_path], "out_is_a_file": ["--out", a_file],
            "json_under_a_file": ["--json", a_file / "res.json"]}[case]
    r = pose("estimate", person, *args)
    assert r.returncode == 2, r.stderr
    assert len(lines(r)) == 1 and "Traceback" not in r.stderr, r.stderr
    assert str(args[1]) in r.stderr
    assert a_file.read_text() == "x"


@pytest.mark.parametrize("command", ["video", "eval", "bench", "export"])
def test_other_commands_check_their_output_path_first(tmp_path, command):
    a_file = tmp_path / "taken.txt"
    a_file.write_text("x")
    args = {"video": ["video", tmp_path / "missing.mp4", "--out", tmp_path],
            "eval": ["eval", "--gt", tmp_path / "gt.json", "--predictions", tmp_path / "p.json", "--out", tmp_path],
            "bench": ["bench", "--out", a_file],
            "export": ["export", tmp_path / "m.keras", "--out", a_file]}[command]
    r = pose(*args)
    assert r.returncode == 2, r.stderr
    (line,) = lines(r)
    assert line.startswith(f"pose {command}: error: --out") and "Traceback" not in r.stderr


# ------------------------------------------------------------------------------------ flip test
def test_flip_test_on_a_model_that_cannot_flip_names_the_models_that_can(person):
    r = pose("estimate", person, "--model", "movenet/multipose-lightning", "--flip-test")
    assert r.returncode == 2, r.stderr
    (line,) = error_lines(r)
    assert "flip test" in line and "models that can" in line and "tf-pose/mobilenet_v2_small" in line
    assert "Traceback" not in r.stderr and len(lines(r)) <= 2


# ------------------------------------------------------------------------------------ quiet by default
def test_no_tensorflow_log_lines_by_default_and_shown_with_v(person):
    quiet = pose("estimate", person)
    assert quiet.returncode == 0, quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if NATIVE_LOG_LINE.match(line.encode())], quiet.stderr
    verbose = pose("-v", "estimate", person)
    assert verbose.returncode == 0
    assert [line for line in verbose.stderr.splitlines() if NATIVE_LOG_LINE.match(line.encode())]


def test_data_service_console_script_is_quiet_and_stops_on_sigterm():
    """pose-data-service starts TensorFlow's gRPC server (C++ log lines) and used to ignore Ctrl-C."""
    exe = shutil.which("pose-data-service", path=str(BIN)) or shutil.which("pose-data-service")
    proc = subprocess.Popen([exe, "dispatcher", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    try:
        first = proc.stdout.readline()
        assert "dispatcher listening on grpc://" in first
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and out.strip() == "dispatcher stopped", (out, err)
    assert not [line for line in err.splitlines() if NATIVE_LOG_LINE.match(line.encode())], err
    assert "Traceback" not in err


def test_pose_train_bad_recipe_is_one_line():
    r = run(shutil.which("pose-train", path=str(BIN)) or "pose-train", ROOT / "no_such_recipe.yaml")
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert len(lines(r)) == 1 and "no_such_recipe.yaml" in r.stderr, r.stderr


# ------------------------------------------------------------------------------------ every console script
def console_scripts() -> list[str]:
    dist = importlib.metadata.distribution("pose_ros")
    names = sorted(ep.name for ep in dist.entry_points if ep.group == "console_scripts")
    assert {"pose", "pose_node", "pose_source", "pose_bag", "pose-train", "pose-data-service"} <= set(names)
    return names


@pytest.mark.parametrize("script", console_scripts())
def test_every_console_script_with_a_bad_argument_is_at_most_two_lines(script):
    exe = shutil.which(script, path=str(BIN)) or shutil.which(script)
    assert exe, f"{script} is not installed"
    r = run(exe, "--no-such-option", timeout=120)
    out = lines(r)
    assert r.returncode != 0, out
    assert 1 <= len(out) <= 2 and "Traceback" not in r.stdout + r.stderr, out
    assert "error" in out[-1], out
