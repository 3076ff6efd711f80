"""YOLOX-nano from the upstream ONNX: our Keras model, its TFLite fp32 / int8 exports (`pose import yolox`),
the fp16 zoo file and the zoo's yolox/nano-int8 (built once into the converted-model cache), all checked
against onnxruntime running the ONNX itself on the shared photos."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
import yaml

from pose_core import zoo
from pose_core.cli import main as pose_main
from pose_core.convert.yolox_export import preprocessor
from pose_core.detectors import load_detector
from pose_core.detectors.yolox import YoloxDecoder

from conftest import require

ONNX = "detectors/yolox-nano/yolox_nano.onnx"
PHOTOS = ("p1.jpg", "p2.jpg", "p3.jpg", "apink1.jpg", "golf.jpg", "hand1.jpg", "cat.jpg")
# Keras/TFLite fp32 vs onnxruntime: max |difference| over all 3549 x 85 outputs (box terms in grid units
# and log-sizes span about -3..4, scores 0..1); measured 1.4e-4 (Keras) and ~4e-4 (TFLite fp32).
FLOAT_TOLERANCE = 2e-3
MIN_IOU = 0.7                 # each ONNX person box scoring >= 0.5 must be found at this IoU
SURE = 0.5


@pytest.fixture(scope="module")
def onnx_path(models_dir):
    return require(models_dir / ONNX, "YOLOX-nano ONNX")


@pytest.fixture(scope="module")
def photos(images_dir):
    return {name: cv2.imread(str(require(images_dir / name, name))) for name in PHOTOS}


@pytest.fixture(scope="module")
def reference(onnx_path, photos):
    """onnxruntime on the ONNX: {photo: (NHWC input tensor, raw [3549, 85] output, person boxes)}."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is a test dependency (requirements/dev.txt)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    pre, decoder = preprocessor(), YoloxDecoder()
    out = {}
    for name, image in photos.items():
        x, transform = pre(image)
        raw = session.run(None, {"images": x.transpose(2, 0, 1)[None]})[0]
        boxes = []
        for b in decoder.decode([raw[0]], (416, 416)):
            (x0, y0), (x1, y1) = transform.to_image(np.array([[b.x0, b.y0], [b.x1, b.y1]], np.float32))
            boxes.append((float(x0), float(y0), float(x1), float(y1), b.score))
        out[name] = (x[None], raw, boxes)
    return out


@pytest.fixture(scope="module")
def imported(onnx_path, images_dir, tmp_path_factory):
    """`pose import yolox` with both formats, calibrated on the shared photos."""
    out = tmp_path_factory.mktemp("yolox_import")
    assert pose_main(["import", "yolox", str(onnx_path), "--out", str(out), "--formats",
                      "tflite_fp32,tflite_int8", "--representative", str(images_dir)]) == 0
    return out


def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def assert_boxes_agree(detector, photos, reference) -> float:
    """Every sure ONNX person box is found at IoU >= MIN_IOU; nobody on cat.jpg. Returns the worst IoU."""
    worst = 1.0
    for name, image in photos.items():
        found = [(b.x0, b.y0, b.x1, b.y1) for b in detector(image)]
        if name == "cat.jpg":
            assert not found, f"{detector.name}: {len(found)} people on cat.jpg"
            continue
        sure = [b for b in reference[name][2] if b[4] >= SURE]
        assert sure, f"the ONNX model finds nobody on {name}"
        for box in sure:
            best = max((_iou(box, f) for f in found), default=0.0)
            assert best >= MIN_IOU, f"{detector.name} on {name}: ONNX box {box} best IoU {best:.2f}"
            worst = min(worst, best)
    return worst


def test_keras_model_matches_onnxruntime_on_photos(onnx_path, reference):
    from pose_core.convert.yolox_onnx import convert_yolox_onnx

    model = convert_yolox_onnx(onnx_path)
    assert model.output.shape[1:] == (3549, 85)
    worst = 0.0
    for name, (x, raw, _) in reference.items():
        got = np.asarray(model(x, training=False))
        assert got.shape == raw.shape
        diff = float(np.max(np.abs(got - raw)))
        worst = max(worst, diff)
        assert diff <= FLOAT_TOLERANCE, f"{name}: Keras vs ONNX max |diff| {diff:.2g}"
    print(f"\nKeras vs onnxruntime, max |diff| over the {len(reference)} photos: {worst:.1e}")   # docs/import.md


def test_import_writes_detector_folders_like_the_zoo_entry(imported):
    zoo_spec = zoo.get_spec("yolox/nano", task="detector")
    for yaml_name, tflite in (("model.yaml", "model_fp32.tflite"), ("model_tflite_fp32.yaml", "model_fp32.tflite"),
                              ("model_tflite_int8.yaml", "model_int8.tflite")):
        entry = yaml.safe_load((imported / yaml_name).read_text())
        assert entry["task"] == "detector" and entry["files"]["tflite"]["path"] == tflite
        assert entry["codec"] == zoo_spec.codec
        assert entry["preprocess"] == {**zoo_spec.preprocess, "tensor_layout": "nhwc"}
        assert entry["input_size"] == list(zoo_spec.input_size)
    spec = zoo.get_spec(str(imported), task="detector")
    assert spec.task == "detector" and spec.default_runtime == "tflite"


def test_tflite_fp32_export_matches_onnxruntime(imported, reference):
    from pose_core.runtimes.tflite import TFLiteRuntime

    runtime = TFLiteRuntime(imported / "model_fp32.tflite", threads=2)
    worst = 0.0
    for name, (x, raw, _) in reference.items():
        diff = float(np.max(np.abs(runtime(x)[0] - raw)))
        worst = max(worst, diff)
        assert diff <= FLOAT_TOLERANCE, f"{name}: TFLite fp32 vs ONNX max |diff| {diff:.2g}"
    print(f"\nTFLite fp32 vs onnxruntime, max |diff| over the {len(reference)} photos: {worst:.1e}")


def test_fp32_folder_finds_the_onnx_boxes(imported, photos, reference):
    detector = load_detector(str(imported), threads=2)
    assert not detector.channels_first
    assert assert_boxes_agree(detector, photos, reference) >= 0.95


def test_int8_export_finds_the_onnx_boxes(imported, photos, reference):
    from ai_edge_litert.interpreter import Interpreter

    path = imported / "model_int8.tflite"
    dtypes = {d["name"]: d["dtype"] for d in Interpreter(model_path=str(path)).get_tensor_details()}

    def layer_dtypes(prefix):
        return {t for n, t in dtypes.items() if f"/{prefix}" in n}
    assert layer_dtypes("dark3_") >= {np.int8} and np.float32 not in layer_dtypes("dark3_")
    assert layer_dtypes("stem") == {np.float32} and layer_dtypes("dark2_") == {np.float32}
    detector = load_detector(str(imported / "model_tflite_int8.yaml"), threads=2)
    # Float first stages: 0.95 measured (full-integer int8 gives 0.74: one scale cannot serve their channels).
    assert assert_boxes_agree(detector, photos, reference) >= 0.85


def test_fp16_zoo_file_finds_the_onnx_boxes(models_dir, photos, reference):
    require(models_dir / zoo.get_spec("yolox/nano", task="detector").files["tflite"].path, "YOLOX fp16 TFLite")
    detector = load_detector("yolox/nano", models_dir=models_dir, threads=2)
    assert detector.channels_first
    assert_boxes_agree(detector, photos, reference)


# ---- the zoo's yolox/nano-int8: built from the ONNX into the converted-model cache -------------------

@pytest.fixture
def source_dir(tmp_path, onnx_path, images_dir):
    """A models directory holding what yolox/nano-int8 is built from: the ONNX and the listed photos."""
    spec = zoo.get_spec("yolox/nano-int8", task="detector")
    models = tmp_path / "models"
    for f in (spec.files["onnx"], *spec.files["onnx"].extra):
        dest = models / f.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = onnx_path if f.path.endswith(".onnx") else require(images_dir / dest.name, dest.name)
        shutil.copyfile(src, dest)
    return models


def test_zoo_int8_is_built_once_into_the_cache(source_dir, tmp_path, monkeypatch, photos, reference, capsys):
    from pose_core.convert import yolox_export

    cache = tmp_path / "cache"
    monkeypatch.setenv("POSE_CACHE_DIR", str(cache))
    assert pose_main(["models", "fetch", "yolox/nano-int8", "--models-dir", str(source_dir)]) == 0
    assert "built from its source" in capsys.readouterr().out
    (built,) = cache.glob("*.tflite")
    assert len(list(cache.glob("*.json"))) == 1 and not list(cache.glob("*.part"))
    stamp = built.stat().st_mtime_ns

    def no_second_build(*args):
        raise AssertionError("rebuilt although the cache holds the file")
    monkeypatch.setattr(yolox_export, "build_tflite", no_second_build)
    detector = load_detector("yolox/nano-int8", models_dir=source_dir, threads=2)
    assert built.stat().st_mtime_ns == stamp
    assert detector.runtime.describe().startswith("tflite") and not detector.channels_first
    assert_boxes_agree(detector, photos, reference)


def test_zoo_int8_rebuilds_a_corrupt_cached_file(source_dir, tmp_path, monkeypatch):
    from pose_core.detectors import build

    spec = zoo.get_spec("yolox/nano-int8", task="detector")
    cache = tmp_path / "cache"
    _, path = build.built_file(spec, None, source_dir, directory=cache)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])              # truncated, e.g. by a full disk
    _, again = build.built_file(spec, None, source_dir, directory=cache)
    assert again == path and again.read_bytes() == good  # the conversion is deterministic


def test_zoo_int8_without_its_source_names_the_fetch_command(tmp_path, monkeypatch):
    from pose_core.errors import ModelFileMissingError

    monkeypatch.setenv("POSE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ModelFileMissingError, match="pose models fetch yolox/nano-int8"):
        load_detector("yolox/nano-int8", models_dir=tmp_path / "empty")


# ---- bad input to the import CLI: one line, exit 1 -----------------------------------------------------

def _one_error_line(capsys, argv) -> str:
    assert pose_main(argv) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "Traceback" not in err[0]
    return err[0]


def test_import_cli_bad_input_is_one_line(tmp_path, onnx_path, images_dir, capsys):
    import onnx

    out = str(tmp_path / "out")
    assert "no such file" in _one_error_line(capsys, ["import", "yolox", str(tmp_path / "missing.onnx"),
                                                      "--out", out])
    line = _one_error_line(capsys, ["import", "yolox", str(images_dir / "cat.jpg"), "--out", out])
    assert "not an ONNX model" in line
    # A graph whose 5th convolution is half as wide as YOLOX-nano's.
    graph = onnx.load(str(onnx_path))
    conv = [n for n in graph.graph.node if n.op_type == "Conv"][4]
    weight = next(t for t in graph.graph.initializer if t.name == conv.input[1])
    array = onnx.numpy_helper.to_array(weight)
    weight.CopyFrom(onnx.numpy_helper.from_array(array[: len(array) // 2], weight.name))
    bad = tmp_path / "bad.onnx"
    onnx.save(graph, str(bad))
    line = _one_error_line(capsys, ["import", "yolox", str(bad), "--out", out])
    assert "dark2_csp_conv2" in line and conv.name in line and "(8, 32, 1, 1)" in line and "(16, 32, 1, 1)" in line
    assert "tflite_int8 needs representative" in _one_error_line(
        capsys, ["import", "yolox", str(onnx_path), "--out", out, "--formats", "tflite_int8"])
    assert not (tmp_path / "out" / "model.yaml").exists()
