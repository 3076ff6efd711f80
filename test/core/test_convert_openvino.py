"""Open Model Zoo Lightweight OpenPose (OpenVINO IR, FP16-INT8 build) -> our Keras model, checked against
the OpenVINO runtime itself (`openvino`, a test-only dependency) on the shared photos: maps, people found,
the FP16 / FP32 builds of the same network, its TFLite exports, the zoo entry, the CLI and bad input.

References and tolerances (measured numbers in docs/import.md):
- a true FP32 IR (weights decoded once, written as fp32): OpenVINO computes in fp32 -> |maps| < 1e-4;
- the published IR with its activation FakeQuantize nodes removed (float activations, the same weights):
  OpenVINO evaluates parts of this fp16 IR in fp16 -> < 2e-2;
- the published IR as is (int8 activations): maps differ by up to ~0.35, so only the people are compared.
"""
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from pose_core.codecs import build_codec
from pose_core.convert.openvino_ir import IRGraph, conv_layers, convert_openvino_ir, input_scaling
from pose_core.errors import CheckpointError
from pose_core.image_io import read_image
from pose_core.layouts import get_layout
from pose_core.models import inference_model

from conftest import require

ov = pytest.importorskip("openvino")

IR = "omz/human-pose-estimation-0001/human-pose-estimation-0001.xml"
W, H = 456, 256
PHOTOS = ("apink1", "cat", "golf", "hand1", "p1", "p2", "p3")
PEOPLE_PHOTOS = ("golf", "hand1", "p1", "p2", "p3")
TOL_FP32_IR = 1e-4
TOL_FLOAT_ACTIVATIONS = 2e-2


# ---- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ir_path(models_dir):
    require(models_dir / IR.replace(".xml", ".bin"), "Open Model Zoo IR weights")
    return require(models_dir / IR, "Open Model Zoo IR")


@pytest.fixture(scope="module")
def imported(ir_path):
    return convert_openvino_ir(ir_path)


@pytest.fixture(scope="module")
def keras_net(imported):
    return inference_model(imported.model)


@pytest.fixture(scope="module")
def photos(images_dir):
    """name -> (H, W, 3) float32 BGR at the IR's own size (plain resize: both sides see the same pixels)."""
    import cv2

    return {name: cv2.resize(read_image(require(images_dir / f"{name}.jpg", "photo")), (W, H),
                             interpolation=cv2.INTER_AREA).astype(np.float32) for name in PHOTOS}


def _without_activation_quantization(model):
    """Reconnect every FakeQuantize on activations (inputs not constant) to its input."""
    for op in model.get_ordered_ops():
        if op.get_type_name() == "FakeQuantize" and op.input_value(0).get_node().get_type_name() != "Constant":
            for target in list(op.output(0).get_target_inputs()):
                target.replace_source_output(op.input_value(0))
    return model


def _compile(model):
    return ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


def _ov_maps(compiled, bgr: np.ndarray) -> np.ndarray:
    """(h, w, 19 + 38) in our order: heatmaps then PAFs (the IR outputs them as two NCHW tensors)."""
    out = compiled(bgr.transpose(2, 0, 1)[None])
    heat, paf = (out[compiled.output(n)][0].transpose(1, 2, 0) for n in ("Mconv7_stage2_L2", "Mconv7_stage2_L1"))
    return np.concatenate([heat, paf], axis=-1)


def _keras_maps(net, bgr: np.ndarray) -> np.ndarray:
    return np.asarray(net(np.ascontiguousarray(bgr[None, ..., ::-1]), training=False))[0]   # ours take RGB


@pytest.fixture(scope="module")
def references(ir_path):
    core = ov.Core()
    return {"int8": _compile(core.read_model(ir_path)),
            "float activations": _compile(_without_activation_quantization(core.read_model(ir_path)))}


def _to_fp32_ir(src_xml, dst_xml):
    """Rewrite an fp16 IR with fp32 constants, input and precisions (what an FP32 build looks like)."""
    tree = ET.parse(src_xml)
    data = np.fromfile(src_xml.with_suffix(".bin"), np.uint8)
    blob = bytearray()
    for layer in tree.getroot().find("layers"):
        d = layer.find("data")
        if layer.get("type") == "Const":
            raw = data[int(d.get("offset")):int(d.get("offset")) + int(d.get("size"))].tobytes()
            if d.get("element_type") == "f16":
                raw = np.frombuffer(raw, np.float16).astype(np.float32).tobytes()
                d.set("element_type", "f32")
            d.set("offset", str(len(blob)))
            d.set("size", str(len(raw)))
            blob += raw
        elif layer.get("type") == "Parameter" and d.get("element_type") == "f16":
            d.set("element_type", "f32")
        elif layer.get("type") == "Convert" and d.get("destination_type") == "f16":
            d.set("destination_type", "f32")
        for port in layer.iter("port"):
            if port.get("precision") == "FP16":
                port.set("precision", "FP32")
    tree.write(dst_xml)
    dst_xml.with_suffix(".bin").write_bytes(bytes(blob))
    return dst_xml


@pytest.fixture(scope="module")
def float_builds(ir_path, tmp_path_factory):
    """The published network as FP16 and FP32 builds (no FakeQuantize, no int8), made by OpenVINO itself:
    activation quantization removed, weight decompression constant-folded, saved."""
    from openvino import passes

    out = tmp_path_factory.mktemp("ir")
    model = _without_activation_quantization(ov.Core().read_model(ir_path))
    manager = passes.Manager()
    manager.register_pass(passes.ConstantFolding())
    manager.run_passes(model)
    fp16 = out / "fp16.xml"
    ov.save_model(model, fp16, compress_to_fp16=False)
    return {"fp16": fp16, "fp32": _to_fp32_ir(fp16, out / "fp32.xml")}


def _people(maps: np.ndarray) -> list:
    codec = build_codec("paf", get_layout("openpose18"), stride=8, heatmap_channels=19, paf_offset=19)
    return codec.decode([maps], (W, H))


# ---- what the IR is -----------------------------------------------------------------------------------

def test_ir_facts_input_scaling_int8_weights_and_stages(ir_path, imported):
    """The Model Optimizer folded (x - 128) / 255 into the IR (x raw 0..255); weights are int8."""
    graph = IRGraph(ir_path)
    convs = conv_layers(graph)
    scale, offset = input_scaling(graph, convs["conv1"])
    assert np.allclose(scale, 1 / 255, rtol=1e-3) and np.allclose(offset, -128 / 255, rtol=1e-3)
    assert imported.quantized and imported.params == {"num_refinement_stages": 1, "num_channels": 128,
                                                      "alpha": 1.0, "cpm": "icv"}
    assert len(convs) == 58


def test_input_is_bgr(keras_net, photos):
    """The right channel order gives more confident heatmap peaks on every person photo."""
    for name in PEOPLE_PHOTOS:
        right = _keras_maps(keras_net, photos[name])[..., :18].max(axis=(0, 1)).mean()
        swapped = _keras_maps(keras_net, photos[name][..., ::-1])[..., :18].max(axis=(0, 1)).mean()
        assert right > swapped, name


@pytest.mark.parametrize("name", ["p1", "hand1"])
def test_paf_channels_follow_the_openpose18_limb_table(keras_net, photos, name):
    """On a one-person photo, for every limb whose ends are confident, the PAF pair that points best
    from a to b (any pair, either component order) is the layout's own pair, x first."""
    maps = _keras_maps(keras_net, photos[name])
    heat, paf = maps[..., :19], maps[..., 19:]
    peaks = [np.unravel_index(np.argmax(heat[..., k]), heat.shape[:2]) for k in range(18)]
    checked = 0
    for (a, b), (cx, cy) in get_layout("openpose18").paf_limbs:
        if min(heat[..., a].max(), heat[..., b].max()) < 0.3:
            continue
        pa, pb = np.array(peaks[a][::-1], float), np.array(peaks[b][::-1], float)
        if np.linalg.norm(pb - pa) < 2:
            continue
        unit = (pb - pa) / np.linalg.norm(pb - pa)
        pts = np.round([pa + t * (pb - pa) for t in np.linspace(0, 1, 10)]).astype(int)
        samples = paf[pts[:, 1], pts[:, 0]]                       # (10, 38)
        scores = {}
        for c in range(0, 38, 2):                                 # every channel pair, both orders
            scores[(c, c + 1)] = samples[:, c].mean() * unit[0] + samples[:, c + 1].mean() * unit[1]
            scores[(c + 1, c)] = samples[:, c + 1].mean() * unit[0] + samples[:, c].mean() * unit[1]
        assert max(scores, key=scores.get) == (cx, cy), f"limb {a}-{b}"
        checked += 1
    assert checked >= 9


# ---- parity with OpenVINO -------------------------------------------------------------------------------

def test_fp16_and_fp32_builds_import_and_match_openvino_exactly(float_builds, imported, photos):
    text = float_builds["fp32"].read_text()
    assert "FakeQuantize" not in text and 'element_type="i8"' not in text and 'element_type="f16"' not in text
    for build in ("fp16", "fp32"):
        other = convert_openvino_ir(float_builds[build])
        assert not other.quantized and other.params == imported.params
        # Same weights as the int8 build, up to OpenVINO's fp16 constant folding (relative 1e-3).
        for ours, theirs in zip(imported.model.get_weights(), other.model.get_weights()):
            assert np.allclose(ours, theirs, rtol=2e-3, atol=2e-3 * max(1.0, float(np.abs(ours).max())))
    net = inference_model(convert_openvino_ir(float_builds["fp32"]).model)
    reference = _compile(ov.Core().read_model(float_builds["fp32"]))
    worst = max(float(np.abs(_keras_maps(net, photos[n]) - _ov_maps(reference, photos[n])).max()) for n in PHOTOS)
    print(f"fp32 IR: max |keras - openvino| = {worst:.2e}")
    assert worst < TOL_FP32_IR


def test_keras_matches_openvino_on_the_shared_photos(keras_net, references, photos):
    worst = {}
    for kind, compiled in references.items():
        errors = []
        for name in PHOTOS:
            ours, theirs = _keras_maps(keras_net, photos[name]), _ov_maps(compiled, photos[name])
            assert ours.shape == theirs.shape == (H // 8, W // 8, 57)
            errors.append(float(np.abs(ours - theirs).max()))
            # int8 activations move map values by up to ~0.4: what the maps mean must still agree.
            assert len(_people(ours)) == len(_people(theirs)), (kind, name)
        worst[kind] = max(errors)
    print("max |keras - openvino| on the shared photos:", {k: f"{v:.3g}" for k, v in worst.items()})
    assert worst["float activations"] < TOL_FLOAT_ACTIVATIONS   # int8: only the people (above)


def test_people_found_on_person_photos_and_nobody_on_the_cat(keras_net, photos):
    for name in PHOTOS:
        people = _people(_keras_maps(keras_net, photos[name]))
        if name == "cat":
            assert people == [], name
        elif name in PEOPLE_PHOTOS:
            assert people, name


@pytest.fixture(scope="module")
def model_dir(ir_path, tmp_path_factory):
    """`pose import openvino IR --out DIR`."""
    from pose_core.cli import main

    out = tmp_path_factory.mktemp("imported") / "omz"
    assert main(["import", "openvino", str(ir_path), "--out", str(out)]) == 0
    return out


def test_tflite_exports_find_the_same_people(model_dir, keras_net, references, photos, tmp_path, images_dir):
    """`pose export DIR/model.keras --formats tflite_fp32,tflite_int8 --representative PHOTOS`: fp32 has
    the Keras maps (so OpenVINO's); fp32 and int8 find the same people as the Keras model, photo by photo,
    through the estimator (as `pose estimate --model` runs them)."""
    from pose_core.cli import main
    from pose_core.estimator import PoseEstimator
    from pose_core.export import run_tflite

    out = tmp_path / "export"
    assert main(["export", str(model_dir / "model.keras"), "--formats", "tflite_fp32,tflite_int8",
                 "--representative", str(images_dir), "--input-size", f"{W}x{H}", "--out", str(out)]) == 0
    worst = 0.0
    for name in PHOTOS:
        lite = run_tflite(out / "model_fp32.tflite", np.ascontiguousarray(photos[name][None, ..., ::-1]))[0][0]
        assert np.abs(lite - _keras_maps(keras_net, photos[name])).max() < 1e-4, name
        worst = max(worst, float(np.abs(lite - _ov_maps(references["float activations"], photos[name])).max()))
    assert worst < TOL_FLOAT_ACTIVATIONS
    estimators = {kind: PoseEstimator.from_file(path) for kind, path in (
        ("keras", model_dir), ("fp32", out / "model_tflite_fp32.yaml"), ("int8", out / "model_tflite_int8.yaml"))}
    assert estimators["int8"].runtime.kind == "tflite"
    for name in PHOTOS:
        image = read_image(images_dir / f"{name}.jpg")
        counts = {kind: len(est(image)) for kind, est in estimators.items()}
        assert len(set(counts.values())) == 1, (name, counts)


# ---- zoo entry, CLI ---------------------------------------------------------------------------------------

def test_zoo_entry_runs_the_ir_without_an_import_step(models_dir, images_dir):
    from pose_core import zoo
    from pose_core.estimator import PoseEstimator

    spec = zoo.get_spec("lightweight-openpose/omz-0001")
    kind, xml = zoo.resolve(spec, None, models_dir, verify=True)   # sha256 of the .xml and the .bin
    assert kind == "openvino_ir" and xml.with_suffix(".bin").is_file()
    est = PoseEstimator.from_zoo("lightweight-openpose/omz-0001", runtime="openvino_ir", models_dir=models_dir)
    assert est.runtime.kind == "openvino_ir" and est.layout.name == "openpose18"
    assert len(est(read_image(images_dir / "p3.jpg"))) >= 2
    assert est(read_image(images_dir / "cat.jpg")) == []
    # Any input size (stride 8): a larger, non-default one works too.
    maps = est.runtime(np.zeros((1, 368, 656, 3), np.float32))[0]
    assert maps.shape == (1, 46, 82, 57)


def test_cli_import_writes_a_model_folder_that_estimates(model_dir, images_dir, keras_net, photos):
    from pose_core.estimator import PoseEstimator

    assert (model_dir / "model.keras").is_file()
    est = PoseEstimator.from_file(model_dir)
    assert est.runtime.kind == "keras"
    assert len(est(read_image(images_dir / "p2.jpg"))) == 2
    maps = est.runtime(np.ascontiguousarray(photos["p1"][None, ..., ::-1]))[0][0]
    assert np.abs(maps - _keras_maps(keras_net, photos["p1"])).max() < 1e-5


def _one_line_error(capsys, args) -> str:
    from pose_core.cli import main

    assert main(args) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pose import: error:"), err
    return err[0]


def test_cli_bad_input_is_one_line(ir_path, tmp_path, capsys):
    out = ["--out", str(tmp_path / "out")]
    assert "no such file" in _one_line_error(capsys, ["import", "openvino", str(tmp_path / "nope.xml"), *out])
    lonely = tmp_path / "lonely.xml"
    lonely.write_bytes(ir_path.read_bytes())
    assert "lonely.bin is missing" in _one_line_error(capsys, ["import", "openvino", str(lonely), *out])
    corrupt = tmp_path / "corrupt.xml"
    corrupt.write_text(ir_path.read_text()[:5000])
    corrupt.with_suffix(".bin").write_bytes(ir_path.with_suffix(".bin").read_bytes())
    assert "not a valid OpenVINO IR xml" in _one_line_error(capsys, ["import", "openvino", str(corrupt), *out])
    truncated = tmp_path / "truncated.xml"
    truncated.write_bytes(ir_path.read_bytes())
    truncated.with_suffix(".bin").write_bytes(ir_path.with_suffix(".bin").read_bytes()[:100_000])
    assert "truncated" in _one_line_error(capsys, ["import", "openvino", str(truncated), *out])
    dangling = tmp_path / "dangling.xml"   # well-formed xml, an edge from a layer that does not exist
    dangling.write_text(re.sub(r'from-layer="\d+"', 'from-layer="99999"', ir_path.read_text(), count=1))
    dangling.with_suffix(".bin").write_bytes(ir_path.with_suffix(".bin").read_bytes())
    assert "layer id 99999" in _one_line_error(capsys, ["import", "openvino", str(dangling), *out])
    assert not (tmp_path / "out" / "model.yaml").exists()


def _weight_const(root, conv_name: str):
    """The Const holding `conv_name`'s weights (before any Convert / Subtract / Multiply decompression)."""
    layers = {el.get("id"): el for el in root.find("layers")}
    into = {(e.get("to-layer"), e.get("to-port")): e.get("from-layer") for e in root.find("edges")}
    conv = next(el for el in layers.values() if re.sub(r"/WithoutBiases$", "", el.get("name")) == conv_name
                and el.get("type") == "Convolution")
    current = into[(conv.get("id"), "1")]
    while layers[current].get("type") != "Const":
        current = into[(current, "0")]
    return layers[current]


def test_mismatching_ir_names_the_layer_and_both_shapes(ir_path, tmp_path):
    """A copy of the xml whose conv4_4_CPM weights are declared 128x64x3x3 (a consistent, smaller slice
    of the same .bin) is refused, naming the IR layer, our layer and both shapes."""
    tree = ET.parse(ir_path)
    const = _weight_const(tree.getroot(), "conv4_4_CPM").find("data")
    assert const.get("shape") == "128,128,3,3"
    const.set("shape", "128,64,3,3")
    const.set("size", str(int(const.get("size")) // 2))
    bad = tmp_path / "bad.xml"
    tree.write(bad)
    bad.with_suffix(".bin").write_bytes(ir_path.with_suffix(".bin").read_bytes())
    with pytest.raises(CheckpointError, match=r"IR layer conv4_4_CPM has weights \(128, 64, 3, 3\), the "
                                              r"architecture's cpm\.conv\.0 expects \(128, 128, 3, 3\)$"):
        convert_openvino_ir(bad)
