"""Converted-model cache (pose_core/runtimes/cache.py): a zoo model whose default runtime is its source format
runs through a TFLite fp32 converted once, checked against the source, cached atomically and rebuilt when
corrupt; a conversion that does not match falls back to the source with a log line. Real models, real
TensorFlow and LiteRT; the cache lives in tmp_path (POSE_CACHE_DIR), never in the read-only models dir."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from pose_core import zoo
from pose_core.estimator import PoseEstimator
from pose_core.runtimes import cache

from conftest import ROOT, require

LIGHTNING = "movenet/lightning"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "converted"
    monkeypatch.setenv(cache.ENV_CACHE_DIR, str(d))
    monkeypatch.delenv("POSE_CONVERT", raising=False)
    return d


@pytest.fixture(scope="module")
def photo(images_dir):
    return cv2.imread(str(require(images_dir / "p1.jpg", "p1.jpg")))


def _entries(d):
    return sorted(p.name for p in d.glob("*.tflite")) if d.exists() else []


def _log(caplog):
    return "\n".join(r.getMessage() for r in caplog.records)


def test_first_use_converts_once_checks_and_reuses(models_dir, cache_dir, photo, caplog):
    caplog.set_level(logging.INFO, logger="pose_core.runtimes.cache")
    est = PoseEstimator.from_zoo(LIGHTNING, models_dir=models_dir)
    assert est.runtime.kind == "tflite"
    (name,) = _entries(cache_dir)
    meta = json.loads((cache_dir / name).with_suffix(".json").read_text())
    spec = zoo.get_spec(LIGHTNING)
    src_kind, src_path = zoo.resolve(spec, None, models_dir)
    files = cache.source_files(spec, src_kind, src_path)
    assert [f.suffix for f in files] == [".json", ".bin"]                    # model.json + its weights
    assert meta["source_sha256"] == cache._sha256(files) and meta["converter_version"] == cache.CONVERTER_VERSION
    assert meta["ok"] and 0 <= meta["max_abs_diff"] <= cache.TOLERANCE and meta["input_size"] == "192x192"
    assert "converted movenet/lightning (tfjs) to TFLite fp32" in _log(caplog)
    assert not list(cache_dir.glob(".*.part"))                               # no temp files left behind

    # Same people as the TF.js graph (fp32 vs fp32: same keypoints to well under a pixel).
    source = PoseEstimator.from_zoo(LIGHTNING, runtime="tfjs", models_dir=models_dir)
    (a,), (b,) = est(photo), source(photo)
    np.testing.assert_allclose(a.keypoints, b.keypoints, atol=0.05)

    # Second use: the cached file as it is, no conversion.
    caplog.clear()
    mtime = (cache_dir / name).stat().st_mtime_ns
    again = PoseEstimator.from_zoo(LIGHTNING, models_dir=models_dir)
    assert again.runtime.kind == "tflite" and (cache_dir / name).stat().st_mtime_ns == mtime
    assert "converted movenet" not in _log(caplog) and "TFLite fp32 converted from tfjs" in _log(caplog)


def test_corrupt_entry_is_detected_and_rebuilt(models_dir, cache_dir, caplog):
    PoseEstimator.from_zoo(LIGHTNING, models_dir=models_dir)
    (name,) = _entries(cache_dir)
    tflite = cache_dir / name
    good = tflite.read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2: len(bad) // 2 + 64] = b"\0" * 64                      # same size, damaged weights
    tflite.write_bytes(bytes(bad))
    caplog.set_level(logging.INFO, logger="pose_core.runtimes.cache")
    est = PoseEstimator.from_zoo(LIGHTNING, models_dir=models_dir)
    assert est.runtime.kind == "tflite"
    assert "is corrupt" in _log(caplog) and "converted movenet/lightning" in _log(caplog)
    assert cache._sha256([tflite]) == json.loads(tflite.with_suffix(".json").read_text())["tflite_sha256"]

    # A truncated verdict file is an unreadable entry: rebuilt too.
    tflite.with_suffix(".json").write_text('{"model": "movenet/light')
    caplog.clear()
    assert PoseEstimator.from_zoo(LIGHTNING, models_dir=models_dir).runtime.kind == "tflite"
    assert "unreadable" in _log(caplog) and json.loads(tflite.with_suffix(".json").read_text())["ok"]


def test_a_conversion_that_does_not_match_falls_back_with_a_log_line(models_dir, cache_dir, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="pose_core.runtimes.cache")
    monkeypatch.setattr(cache, "TOLERANCE", 0.0)      # fp32 TFLite differs from the TF graph by ~1e-6 > 0
    est = PoseEstimator.from_zoo(LIGHTNING, models_dir=models_dir)
    assert est.runtime.kind == "tfjs"
    assert "TFLite conversion not used (max |diff|" in _log(caplog)
    assert _entries(cache_dir) == []                                          # a rejected TFLite is not kept
    (meta_file,) = cache_dir.glob("*.json")
    meta = json.loads(meta_file.read_text())
    assert meta["ok"] is False and meta["max_abs_diff"] > 0

    # The verdict is remembered: the next start falls back without converting again.
    caplog.clear()
    assert PoseEstimator.from_zoo(LIGHTNING, models_dir=models_dir).runtime.kind == "tfjs"
    assert "converted movenet" not in _log(caplog) and "not used" in _log(caplog)

    # Under the stated tolerance the same entry converts and is used.
    monkeypatch.setattr(cache, "TOLERANCE", 1e-2)
    assert PoseEstimator.from_zoo(LIGHTNING, models_dir=models_dir).runtime.kind == "tflite"


def test_explicit_runtime_and_gpu_device_keep_the_source(models_dir, cache_dir):
    assert PoseEstimator.from_zoo(LIGHTNING, runtime="tfjs", models_dir=models_dir).runtime.kind == "tfjs"
    spec = zoo.get_spec(LIGHTNING)
    kind, path = zoo.resolve(spec, None, models_dir)
    assert cache.prefer_tflite(spec, kind, path, requested=None, device="gpu:0") == (kind, path)
    assert cache.prefer_tflite(spec, kind, path, requested="tfjs") == (kind, path)
    assert not cache_dir.exists()                                             # nothing converted


def test_frozen_graph_converts_with_a_dynamic_input_size(models_dir, images_dir, cache_dir):
    """tf-pose's TFLite keeps H, W dynamic: the default size, native input and multi-scale all use it."""
    name = "tf-pose/mobilenet_v2_small"
    image = cv2.imread(str(require(images_dir / "p3.jpg", "p3.jpg")))
    lite = PoseEstimator.from_zoo(name, models_dir=models_dir)
    graph = PoseEstimator.from_zoo(name, runtime="frozen_graph", models_dir=models_dir)
    assert lite.runtime.kind == "tflite" and lite.runtime.fixed_input_size is None
    (entry,) = _entries(cache_dir)
    assert entry.endswith("-any.tflite")                                      # no input size in the key
    ours, theirs = lite(image), graph(image)
    assert len(ours) == len(theirs) == 3
    for p, q in zip(ours, theirs):
        assert np.array_equal(p.keypoints[:, 2] > 0, q.keypoints[:, 2] > 0)
        seen = p.keypoints[:, 2] > 0
        assert np.abs(p.keypoints[seen, :2] - q.keypoints[seen, :2]).max() < 2.0
    native = PoseEstimator.from_zoo(name, models_dir=models_dir, input_size="native", scales=(1.0, 0.75))
    assert native.runtime.kind == "tflite" and len(native(image)) == 3
    assert len(_entries(cache_dir)) == 1                                      # one entry serves every size


def test_multipose_is_cached_per_input_size_and_native_keeps_the_source(models_dir, cache_dir, photo):
    name = "movenet/multipose-lightning"
    est = PoseEstimator.from_zoo(name, models_dir=models_dir, input_size=(320, 224))
    assert est.runtime.kind == "tflite" and est.runtime.fixed_input_size == (320, 224)
    assert [n.endswith("-320x224.tflite") for n in _entries(cache_dir)] == [True]
    assert len(est(photo)) == 1
    native = PoseEstimator.from_zoo(name, models_dir=models_dir, input_size="native")
    assert native.runtime.kind == "tfjs" and len(_entries(cache_dir)) == 1


def test_unwritable_cache_keeps_the_source(models_dir, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(cache.ENV_CACHE_DIR, str(blocker / "converted"))
    caplog.set_level(logging.INFO, logger="pose_core.runtimes.cache")
    assert PoseEstimator.from_zoo(LIGHTNING, models_dir=models_dir).runtime.kind == "tfjs"
    assert "cache unusable" in _log(caplog)


def test_topdown_pose_model_uses_the_cache(models_dir, cache_dir, images_dir):
    from pose_core.estimators import load_estimator

    require(models_dir / "detectors/yolox-nano", "YOLOX-nano detector")
    est = load_estimator("topdown/yolox-nano+movenet-thunder", models_dir=models_dir)
    assert est.pose.runtime.kind == "tflite" and est.pose.runtime.fixed_input_size == (256, 256)
    assert [n.startswith("movenet_thunder-") for n in _entries(cache_dir)] == [True]
    image = cv2.imread(str(require(images_dir / "p3.jpg", "p3.jpg")))
    assert len(est(image)) == 3


def test_models_fetch_convert_preconverts_for_offline_use(models_dir, cache_dir, caplog):
    r = subprocess.run([sys.executable, "-m", "pose_core.cli", "models", "fetch", LIGHTNING, "--convert"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "POSE_MODELS_DIR": str(models_dir)})
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    line = [l for l in r.stdout.splitlines() if "converted from tfjs" in l]
    assert len(line) == 1 and line[0].startswith("ok") and str(cache_dir) in line[0]
    (name,) = _entries(cache_dir)
    caplog.set_level(logging.INFO, logger="pose_core.runtimes.cache")
    assert PoseEstimator.from_zoo(LIGHTNING, models_dir=models_dir).runtime.kind == "tflite"
    assert "converted movenet" not in _log(caplog)                            # the pre-converted file serves


def test_openvino_ir_source_converts_too(models_dir, images_dir, cache_dir):
    """The OMZ Lightweight OpenPose IR (imported into Keras in memory) is a cacheable source as well."""
    name = "lightweight-openpose/omz-0001"
    require(models_dir / "omz/human-pose-estimation-0001", "OMZ human-pose-estimation-0001 IR")
    image = cv2.imread(str(require(images_dir / "p3.jpg", "p3.jpg")))
    lite = PoseEstimator.from_zoo(name, models_dir=models_dir)
    source = PoseEstimator.from_zoo(name, runtime="openvino_ir", models_dir=models_dir)
    assert lite.runtime.kind == "tflite" and lite.runtime.fixed_input_size is None
    (entry,) = _entries(cache_dir)
    meta = json.loads((cache_dir / entry).with_suffix(".json").read_text())
    assert meta["source_kind"] == "openvino_ir" and meta["ok"] and meta["max_abs_diff"] < 1e-4
    ours, theirs = lite(image), source(image)
    assert len(ours) == len(theirs) == 3
    for p, q in zip(ours, theirs):
        seen = p.keypoints[:, 2] > 0
        assert np.array_equal(seen, q.keypoints[:, 2] > 0)
        assert np.abs(p.keypoints[seen, :2] - q.keypoints[seen, :2]).max() < 0.5
