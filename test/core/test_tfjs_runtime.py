"""TF.js graph-model runtime on the real MoveNet files: weight decoding, graph rebuild, shards, bad files."""
from __future__ import annotations

import json
import shutil
import struct

import cv2
import numpy as np
import pytest

from pose_core.errors import ModelError
from pose_core.runtimes import load_runtime
from pose_core.runtimes.tfjs import TFJSRuntime, build_graph_def, decode_weight, load_model_json, read_weights

from conftest import require

MODELS = {"multipose": (1, 6, 56), "lightning": (1, 1, 17, 3), "thunder": (1, 1, 17, 3)}
FIXED_SIZE = {"multipose": None, "lightning": (192, 192), "thunder": (256, 256)}


@pytest.fixture(scope="module")
def movenet_dir(models_dir):
    return require(models_dir / "movenet", "MoveNet TF.js models")


@pytest.fixture(scope="module")
def runtimes(movenet_dir):
    return {name: TFJSRuntime(require(movenet_dir / f"movenet-{name}.json", f"movenet-{name}"))
            for name in MODELS}


@pytest.fixture(scope="module")
def photo(images_dir):
    return cv2.imread(str(require(images_dir / "p1.jpg", "photo p1.jpg")))[:, :, ::-1]  # RGB


def _input(photo, w, h):
    return cv2.resize(photo, (w, h))[None].astype(np.int32)


@pytest.mark.parametrize("name", MODELS)
def test_each_model_loads_with_documented_shapes(runtimes, photo, name):
    rt = runtimes[name]
    assert rt.kind == "tfjs" and rt.input_dtype == np.int32
    assert rt.fixed_input_size == FIXED_SIZE[name]
    w, h = rt.fixed_input_size or (256, 256)
    (out,) = rt(_input(photo, w, h))
    assert out.shape == MODELS[name] and out.dtype == np.float32
    yx = out.reshape(-1, out.shape[-1])[:, :51] if name == "multipose" else out.reshape(17, 3)
    assert np.isfinite(out).all()
    # Keypoint coordinates are fractions of the input; scores are probabilities.
    if name != "multipose":
        assert (yx[:, :2] >= -0.05).all() and (yx[:, :2] <= 1.05).all()
        assert (yx[:, 2] >= 0).all() and (yx[:, 2] <= 1).all()


def test_multipose_accepts_other_multiples_of_32(runtimes, photo):
    (out,) = runtimes["multipose"](_input(photo, 192, 256))   # portrait photo, aspect kept
    assert out.shape == (1, 6, 56)
    assert out[0, :, 55].max() > 0.3   # the person in p1 is still found


def test_batch_of_two_equals_two_single_runs(runtimes, photo):
    rt = runtimes["lightning"]
    a, b = _input(photo, 192, 192), _input(photo[:, ::-1].copy(), 192, 192)
    (both,) = rt(np.concatenate([a, b]))
    assert both.shape == (2, 1, 17, 3)
    np.testing.assert_array_equal(both[0], rt(a)[0][0])
    np.testing.assert_array_equal(both[1], rt(b)[0][0])


def test_float_batch_is_rounded_to_int_pixels(runtimes, photo):
    rt = runtimes["lightning"]
    x = _input(photo, 192, 192)
    np.testing.assert_array_equal(rt(x.astype(np.float32) + 0.2)[0], rt(x)[0])


def test_wrong_input_size_is_a_model_error(runtimes):
    with pytest.raises(ModelError, match=r"takes input \(N, 192, 192, 3\), got \(1, 100, 120, 3\)"):
        runtimes["lightning"](np.zeros((1, 100, 120, 3), np.int32))
    with pytest.raises(ModelError, match="NHWC"):
        runtimes["lightning"](np.zeros((192, 192, 3), np.int32))


def test_factory_builds_tfjs_runtime(movenet_dir):
    rt = load_runtime("tfjs", movenet_dir / "movenet-lightning.json")
    assert isinstance(rt, TFJSRuntime) and "tfjs" in rt.describe()


# ---------------------------------------------------------------------------------------- weight decoding
def _half_by_hand(bits: int) -> float:
    """IEEE 754 binary16 from its bits, written out (sign, 5-bit exponent, 10-bit mantissa)."""
    sign = -1.0 if bits >> 15 else 1.0
    exponent, mantissa = (bits >> 10) & 0x1F, bits & 0x3FF
    if exponent == 0:
        return sign * mantissa / 1024.0 * 2.0 ** -14
    return sign * (1.0 + mantissa / 1024.0) * 2.0 ** (exponent - 15)


def test_float16_values_decode_as_hand_computed():
    raw = struct.pack("<4H", 0x3C00, 0xC000, 0x3555, 0x0001)
    got = decode_weight(raw, {"name": "w", "shape": [2, 2], "dtype": "float32",
                              "quantization": {"dtype": "float16", "original_dtype": "float32"}})
    assert got.dtype == np.float32 and got.shape == (2, 2)
    np.testing.assert_array_equal(got.ravel(), [1.0, -2.0, 0.333251953125, 2.0 ** -24])


def test_real_float16_weight_matches_hand_decoding(movenet_dir):
    """The first float16 tensor of the real lightning .bin, decoded bit by bit, equals the reader's."""
    model = load_model_json(movenet_dir / "movenet-lightning.json")
    group = model["weightsManifest"][0]
    offset = 0
    for spec in group["weights"]:
        if (spec.get("quantization") or {}).get("dtype") == "float16":
            break
        offset += int(np.prod(spec["shape"])) * 4   # the int32/float32 weights before it
    raw = (movenet_dir / group["paths"][0]).read_bytes()[offset:offset + 6]
    expected = [_half_by_hand(v) for v in struct.unpack("<3H", raw)]
    weights = read_weights(model["weightsManifest"], movenet_dir)
    assert weights[spec["name"]].ravel()[:3].tolist() == expected
    assert weights[spec["name"]].shape == tuple(spec["shape"])


def test_uint8_and_uint16_quantisation_use_min_and_scale():
    u8 = decode_weight(bytes([0, 1, 4]), {"name": "a", "shape": [3], "dtype": "float32",
                                          "quantization": {"dtype": "uint8", "min": -1.0, "scale": 0.5}})
    np.testing.assert_allclose(u8, [-1.0, -0.5, 1.0])
    u16 = decode_weight(struct.pack("<2H", 0, 1000), {"name": "b", "shape": [2], "dtype": "float32",
                                                       "quantization": {"dtype": "uint16", "min": 2.0,
                                                                        "scale": 0.001}})
    np.testing.assert_allclose(u16, [2.0, 3.0], rtol=1e-6)
    ints = decode_weight(bytes([0, 3]), {"name": "c", "shape": [2], "dtype": "int32",
                                         "quantization": {"dtype": "uint8", "min": 1.0, "scale": 0.5}})
    assert ints.dtype == np.int32 and ints.tolist() == [1, 2]   # 2.5 rounds to even, like np.round


def test_plain_int32_and_float32_weights():
    raw = struct.pack("<2i", -7, 42) + struct.pack("<f", 1.5)
    assert decode_weight(raw[:8], {"name": "i", "shape": [2], "dtype": "int32"}).tolist() == [-7, 42]
    f = decode_weight(raw[8:], {"name": "f", "shape": [], "dtype": "float32"})
    assert f.shape == () and f.dtype == np.float32 and float(f) == 1.5


# ------------------------------------------------------------------------------------------ shards & errors
def _copy_model(movenet_dir, tmp_path, name="lightning"):
    model = json.loads((movenet_dir / f"movenet-{name}.json").read_text())
    shutil.copy(movenet_dir / f"movenet-{name}.bin", tmp_path / "w.bin")
    model["weightsManifest"][0]["paths"] = ["w.bin"]
    return model


def test_weights_split_over_two_shards_give_the_same_outputs(movenet_dir, tmp_path, runtimes, photo):
    model = _copy_model(movenet_dir, tmp_path)
    data = (tmp_path / "w.bin").read_bytes()
    cut = len(data) // 2 + 3   # mid-tensor: a weight spans both shards
    (tmp_path / "group1-shard1of2.bin").write_bytes(data[:cut])
    (tmp_path / "group1-shard2of2.bin").write_bytes(data[cut:])
    model["weightsManifest"][0]["paths"] = ["group1-shard1of2.bin", "group1-shard2of2.bin"]
    (tmp_path / "model.json").write_text(json.dumps(model))
    x = _input(photo, 192, 192)
    np.testing.assert_array_equal(TFJSRuntime(tmp_path / "model.json")(x)[0], runtimes["lightning"](x)[0])


def test_missing_shard_is_named(movenet_dir, tmp_path):
    model = _copy_model(movenet_dir, tmp_path)
    model["weightsManifest"][0]["paths"] = ["w.bin", "group1-shard2of2.bin"]
    (tmp_path / "model.json").write_text(json.dumps(model))
    with pytest.raises(ModelError, match="shard missing: .*group1-shard2of2.bin"):
        TFJSRuntime(tmp_path / "model.json")


def test_short_shard_is_an_error(movenet_dir, tmp_path):
    model = _copy_model(movenet_dir, tmp_path)
    (tmp_path / "w.bin").write_bytes((tmp_path / "w.bin").read_bytes()[:1000])
    (tmp_path / "model.json").write_text(json.dumps(model))
    with pytest.raises(ModelError, match="too short"):
        TFJSRuntime(tmp_path / "model.json")


def test_corrupt_json_is_a_model_error(movenet_dir, tmp_path):
    text = (movenet_dir / "movenet-lightning.json").read_text()
    (tmp_path / "model.json").write_text(text[: len(text) // 2])
    with pytest.raises(ModelError, match="not valid JSON"):
        TFJSRuntime(tmp_path / "model.json")
    (tmp_path / "layers.json").write_text(json.dumps({"modelTopology": {"class_name": "Sequential"}}))
    with pytest.raises(ModelError, match="graph-model"):
        TFJSRuntime(tmp_path / "layers.json")


def test_unsupported_weight_dtype_is_a_model_error():
    with pytest.raises(ModelError, match="unsupported dtype 'string'"):
        decode_weight(b"", {"name": "s", "shape": [1], "dtype": "string"})


# ------------------------------------------------------------------------------------------------ parity
def test_split_fused_ops_equal_tensorflows_own_fused_kernels(movenet_dir, photo):
    """Our graph replaces TF.js's fused conv ops by Conv2D/DepthwiseConv2dNative + BiasAdd + activation.
    TensorFlow also has internal fused kernels for exactly these ops: running the graph with those kernels
    must give the identical output, i.e. the rebuild changes nothing."""
    import tensorflow as tf

    from pose_core.runtimes import tfjs

    model = load_model_json(movenet_dir / "movenet-lightning.json")
    weights = read_weights(model["weightsManifest"], movenet_dir)
    for node in model["modelTopology"]["node"]:
        if node["op"] == "FusedDepthwiseConv2dNative":   # TF.js name -> TF's internal op
            node["op"] = "_FusedDepthwiseConv2dNative"
            node["attr"].pop("explicit_paddings", None)
        if node["op"].startswith("_Fused"):
            node["attr"]["TArgs"] = {"list": {"type": ["DT_FLOAT"] * int(node["attr"]["num_args"]["i"])}}
    kept = dict(tfjs._FUSED_BASE)
    tfjs._FUSED_BASE.clear()   # build the graph once without splitting anything
    try:
        fused_graph = build_graph_def(model["modelTopology"], weights, tf)
    finally:
        tfjs._FUSED_BASE.update(kept)
    assert sum(n.op.startswith("_Fused") for n in fused_graph.node) == 67
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(fused_graph, name=""), [])
    fused = wrapped.prune(wrapped.graph.get_tensor_by_name("input:0"),
                          [wrapped.graph.get_tensor_by_name("Identity:0")])
    x = _input(photo, 192, 192)
    ours = TFJSRuntime(movenet_dir / "movenet-lightning.json")
    assert not any(n.op.startswith("_Fused") for n in ours.function.graph.as_graph_def().node)
    np.testing.assert_array_equal(fused(tf.constant(x))[0].numpy(), ours(x)[0])


@pytest.mark.parametrize("name,size", [("lightning", None), ("multipose", (256, 192))])
def test_tflite_conversion_matches(runtimes, photo, name, size):
    from ai_edge_litert.interpreter import Interpreter

    rt = runtimes[name]
    interp = Interpreter(model_content=rt.to_tflite(size), num_threads=1)
    interp.allocate_tensors()
    w, h = size or rt.fixed_input_size
    x = _input(photo, w, h)
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    out = interp.get_tensor(interp.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, rt(x)[0], atol=1e-4)


# ------------------------------------------------------------------------------ fused-op variants (hand-made)
def _attr_list_s(*names):
    import base64
    return {"list": {"s": [base64.b64encode(n.encode()).decode() for n in names]}}


def test_hand_made_graph_with_batchnorm_prelu_and_depthwise_fusions(tmp_path):
    """A tiny TF.js graph model written here (float32 + uint8-quantised weights in two shards) exercising
    the fused variants MoveNet does not use: conv + FusedBatchNorm + Relu, conv + BiasAdd + Prelu,
    depthwise + BiasAdd + Relu6. Expected values computed with numpy."""
    rng = np.random.default_rng(0)
    conv_w = rng.normal(size=(1, 1, 2, 3)).astype(np.float32)
    scale, offset = rng.uniform(0.5, 2, 3).astype(np.float32), rng.normal(size=3).astype(np.float32)
    mean, var = rng.normal(size=3).astype(np.float32), rng.uniform(0.5, 2, 3).astype(np.float32)
    conv2_w = rng.normal(size=(1, 1, 3, 3)).astype(np.float32)
    bias2, alpha = rng.normal(size=3).astype(np.float32), np.float32([0.1, 0.2, 0.3])
    dw_q = np.array([0, 255, 128], np.uint8).reshape(1, 1, 3, 1)      # uint8: -1 + q * (2 / 255)
    dw_w = (dw_q.astype(np.float32) * np.float32(2 / 255) + np.float32(-1)).reshape(1, 1, 3, 1)
    bias3 = np.float32([0.5, -0.5, 7.0])
    named = [("conv_w", conv_w), ("scale", scale), ("offset", offset), ("mean", mean), ("var", var),
             ("conv2_w", conv2_w), ("bias2", bias2), ("alpha", alpha), ("dw_w", dw_q), ("bias3", bias3)]
    blob = b"".join(a.tobytes() for _, a in named)
    (tmp_path / "s1.bin").write_bytes(blob[:50])
    (tmp_path / "s2.bin").write_bytes(blob[50:])
    manifest = [{"paths": ["s1.bin", "s2.bin"], "weights": [
        {"name": n, "shape": list(a.shape), "dtype": "float32",
         **({"quantization": {"dtype": "uint8", "min": -1.0, "scale": 2 / 255}} if n == "dw_w" else {})}
        for n, a in named]}]
    conv_attrs = {"T": {"type": "DT_FLOAT"}, "strides": {"list": {"i": ["1", "1", "1", "1"]}},
                  "padding": {"s": "U0FNRQ=="}, "data_format": {"s": "TkhXQw=="}}
    const = lambda n: {"name": n, "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}}}  # noqa: E731
    any_hw = {"dim": [{"size": "1"}, {"size": "-1"}, {"size": "-1"}, {"size": "2"}]}
    nodes = [{"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": any_hw}}},
             *[const(n) for n, _ in named],
             {"name": "bn", "op": "_FusedConv2D", "input": ["x", "conv_w", "scale", "offset", "mean", "var"],
              "attr": {**conv_attrs, "fused_ops": _attr_list_s("FusedBatchNorm", "Relu"), "num_args": {"i": "4"},
                       "epsilon": {"f": 0.001}}},
             {"name": "pr", "op": "_FusedConv2D", "input": ["bn", "conv2_w", "bias2", "alpha"],
              "attr": {**conv_attrs, "fused_ops": _attr_list_s("BiasAdd", "Prelu"), "num_args": {"i": "2"}}},
             {"name": "dw", "op": "FusedDepthwiseConv2dNative", "input": ["pr", "dw_w", "bias3"],
              "attr": {**conv_attrs, "fused_ops": _attr_list_s("BiasAdd", "Relu6"), "num_args": {"i": "1"}}}]
    model = {"format": "graph-model", "modelTopology": {"node": nodes}, "weightsManifest": manifest,
             "signature": {"inputs": {"x": {"name": "x:0"}}, "outputs": {"y": {"name": "dw:0"}}}}
    (tmp_path / "model.json").write_text(json.dumps(model))

    rt = TFJSRuntime(tmp_path / "model.json")
    assert rt.input_dtype == np.float32 and rt.fixed_input_size is None
    x = rng.normal(size=(1, 3, 5, 2)).astype(np.float32)
    (got,) = rt(x)

    bn = np.maximum((x @ conv_w[0, 0] - mean) * scale / np.sqrt(var + np.float32(0.001)) + offset, 0)
    pre = bn @ conv2_w[0, 0] + bias2
    pr = np.maximum(pre, 0) + alpha * np.minimum(pre, 0)
    expected = np.clip(pr * dw_w[0, 0, :, 0] + bias3, 0, 6)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert (got[..., 2] == 6).all()          # the Relu6 clamp really happened (bias 7)
