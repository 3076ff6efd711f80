"""Every architecture builds at a tiny size with outputs of the right stride / channel count, reloads
from .keras with identical outputs, and reduces to the codec's inference output."""
from __future__ import annotations

import logging

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from pose_core.errors import CheckpointError, ModelError  # noqa: E402
from pose_core.layouts import AIC14, MPII16, OPENPOSE18  # noqa: E402
from pose_core.models import build_model, describe_outputs, inference_model, model_metadata  # noqa: E402

from conftest import benchmark_module  # noqa: E402

SIZE = 128


def _image(h=SIZE, w=SIZE, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (1, h, w, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def lightweight():
    return build_model("lightweight_openpose", alpha=0.25, num_channels=32, num_refinement_stages=2)


def test_lightweight_openpose_outputs(lightweight):
    out = lightweight(_image(SIZE, 96))
    assert set(out) == {f"stage{s}_{k}" for s in (1, 2, 3) for k in ("heatmaps", "pafs")}
    for s in (1, 2, 3):
        assert out[f"stage{s}_heatmaps"].shape == (1, SIZE // 8, 96 // 8, 19)
        assert out[f"stage{s}_pafs"].shape == (1, SIZE // 8, 96 // 8, 38)
    infer = inference_model(lightweight)
    y = np.asarray(infer(_image()))
    assert y.shape == (1, SIZE // 8, SIZE // 8, 57)
    ref = lightweight(_image())
    np.testing.assert_allclose(y[..., :19], ref["stage3_heatmaps"], atol=1e-6)
    np.testing.assert_allclose(y[..., 19:], ref["stage3_pafs"], atol=1e-6)
    meta = model_metadata(lightweight)
    assert meta["codec"] == {"name": "paf", "stride": 8, "heatmap_channels": 19, "paf_offset": 19}
    assert meta["layout"] == "openpose18" and meta["stride"] == 8


def test_lightweight_published_size_and_torch_names():
    # Published: 4.1M parameters (MobileNetV1 alpha 1, 128-channel CPM, 1 refinement stage).
    from pose_core.convert.lwopenpose import load_state_dict_into
    from pose_core.models.lightweight_openpose import torch_key_map
    model = build_model("lightweight_openpose")
    assert 4.0e6 < model.count_params() < 4.2e6
    mapping = torch_key_map(model)
    for key in ("model.0.0.weight", "model.7.0.weight", "model.11.4.running_var", "cpm.align.0.bias",
                "cpm.trunk.2.2.weight", "cpm.conv.0.weight", "initial_stage.trunk.2.0.bias",
                "initial_stage.heatmaps.1.0.weight", "initial_stage.pafs.0.0.bias",
                "refinement_stages.0.trunk.4.initial.0.weight",
                "refinement_stages.0.trunk.0.trunk.1.1.running_mean",
                "refinement_stages.0.heatmaps.1.0.bias", "refinement_stages.0.pafs.1.0.weight"):
        assert key in mapping, key
    # Every Keras variable is the target of exactly one state_dict key.
    targets = {(layer, var) for layer, var, _ in mapping.values()}
    assert len(targets) == len(mapping) == len(model.weights)
    assert model.get_layer("model.7.0").dilation_rate == (2, 2)
    # A synthetic torch-shaped state_dict loads (OIHW -> HWIO, BGR flip of the first conv).
    rng = np.random.default_rng(1)
    state = {}
    for key, (layer, var, transform) in mapping.items():
        w = next(v for v in model.get_layer(layer).weights if v.name == var)
        shape = tuple(w.shape)
        if transform == "conv":
            torch_shape = (shape[3], shape[2], shape[0], shape[1])
        elif transform == "depthwise":
            torch_shape = (shape[2], 1, shape[0], shape[1])
        else:
            torch_shape = shape
        state[key] = rng.normal(size=torch_shape).astype(np.float32)
    state["model.0.1.num_batches_tracked"] = np.array(0)
    assert load_state_dict_into(model, state) == len(mapping)
    k = model.get_layer("model.0.0").kernel.numpy()
    np.testing.assert_array_equal(k[1, 2, ::-1, 5], state["model.0.0.weight"][5, :, 1, 2])
    del state["cpm.conv.0.weight"]
    with pytest.raises(CheckpointError, match="cpm.conv.0.weight"):
        load_state_dict_into(model, state)


def test_keras_save_reload_identical(lightweight, tmp_path):
    path = tmp_path / "lw.keras"
    lightweight.save(path)
    reloaded = keras.saving.load_model(path)
    x = _image(seed=3)
    a, b = lightweight(x), reloaded(x)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert model_metadata(reloaded) == model_metadata(lightweight)
    np.testing.assert_array_equal(inference_model(reloaded)(x), inference_model(lightweight)(x))


def test_init_weights_by_name(lightweight, tmp_path, caplog):
    path = tmp_path / "backbone.keras"
    lightweight.save(path)
    with caplog.at_level(logging.WARNING):
        fresh = build_model("lightweight_openpose", alpha=0.25, num_channels=32, num_refinement_stages=1)
    assert "no init_weights" in caplog.text and "random init" in caplog.text
    loaded = build_model("lightweight_openpose", alpha=0.25, num_channels=32, num_refinement_stages=1,
                         init_weights=path)
    x = _image(seed=4)
    ref = lightweight(x)["stage2_heatmaps"]
    np.testing.assert_allclose(loaded(x)["stage2_heatmaps"], ref, atol=1e-5)
    assert not np.allclose(fresh(x)["stage2_heatmaps"], ref, atol=1e-3)
    with pytest.raises(CheckpointError):
        build_model("lightweight_openpose", alpha=0.25, init_weights=tmp_path / "missing.npz")
    # npz by layer name: the first conv only.
    npz = tmp_path / "first.npz"
    np.savez(npz, **{"model.0.0/kernel": lightweight.get_layer("model.0.0").kernel.numpy()})
    part = build_model("lightweight_openpose", alpha=0.25, num_channels=32, init_weights=npz)
    np.testing.assert_array_equal(part.get_layer("model.0.0").kernel,
                                  lightweight.get_layer("model.0.0").kernel)


def test_bad_names_and_layouts():
    with pytest.raises(ModelError, match="unknown architecture"):
        build_model("no_such_net")
    with pytest.raises(ModelError, match="no PAF limb table"):
        build_model("lightweight_openpose", layout=AIC14, alpha=0.25)
    with pytest.raises(ModelError, match="unexpected keyword"):
        build_model("lightweight_openpose", alphaa=0.25)


# name -> (tiny params, stride, {output: channels}, inference output channels)
TINY = {
    "openpose_cmu": (dict(alpha=0.125, stages=2), 8,
                     {"stage1_pafs": 38, "stage1_heatmaps": 19, "stage2_pafs": 38, "stage2_heatmaps": 19},
                     [57]),
    "openpose_mobilenet_thin": (dict(alpha=0.25, head_alpha=0.5, stages=2), 8,
                                {"stage2_pafs": 38, "stage2_heatmaps": 19}, [57]),
    "openpose_mobilenet_v2": (dict(alpha=0.25, stages=2), 8, {"stage2_pafs": 38, "stage2_heatmaps": 19},
                              [57]),
    "cpm_mobilenet_v2": (dict(alpha=0.25, stages=2, fixed_input_size=False), 2,
                         {"stage1_heatmaps": 14, "stage2_heatmaps": 14}, [14]),
    "hourglass_mobilenet_v2": (dict(alpha=0.25, stacks=2, depth=2, fixed_input_size=False), 4,
                               {"stage1_heatmaps": 14, "stage2_heatmaps": 14}, [14]),
    "deepercut_resnet50": (dict(alpha=0.125, intermediate_supervision=True), 8,
                           {"heatmaps": 16, "locref": 32, "intermediate_heatmaps": 16}, [16, 32]),
    "deepercut_resnet101": (dict(alpha=0.125, output_stride=8, deconv=False), 8,
                            {"heatmaps": 16, "locref": 32, "intermediate_heatmaps": 16}, [16, 32]),
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_builder_shapes(name):
    params, stride, channels, infer_channels = TINY[name]
    model = build_model(name, **params)
    h, w = 120, 96   # not a multiple of 16: dynamic sizes must still line up
    out = model(_image(h, w))
    # A x2 transposed-conv head doubles the stride-16 grid: 2 * ceil(H / 16) cells.
    up = 2 if params.get("deconv", name.startswith("deepercut")) else 1
    for key, ch in channels.items():
        assert out[key].shape == (1, up * -(-h // (stride * up)), up * -(-w // (stride * up)), ch), key
    assert all(np.isfinite(np.asarray(v)).all() for v in out.values())
    infer = inference_model(model)(_image(h, w))
    infer = infer if isinstance(infer, (list, tuple)) else [infer]
    assert [int(t.shape[-1]) for t in infer] == infer_channels
    meta = describe_outputs(model)
    assert meta["stride"] == stride and meta["codec"]["stride"] == stride
    assert meta["codec"]["name"] == ("paf" if "openpose" in name else "heatmap")


def test_other_layouts():
    # Heatmap nets take any layout; PAF nets any layout with a PAF limb table (crowdpose14 / coco17
    # tables are defined in pose_core.layouts for our own training).
    model = build_model("lightweight_openpose", layout="crowdpose14", alpha=0.25, num_channels=16)
    assert model.output["stage2_heatmaps"].shape[-1] == 15 and model.output["stage2_pafs"].shape[-1] == 26
    model = build_model("openpose_mobilenet_v2", layout="coco17", alpha=0.25, stages=1)
    assert model.output["stage1_heatmaps"].shape[-1] == 18 and model.output["stage1_pafs"].shape[-1] == 40
    model = build_model("cpm_mobilenet_v2", layout=MPII16, alpha=0.25, stages=1)
    assert model.output["stage1_heatmaps"].shape[-1] == 16
    model = build_model("openpose_mobilenet_v2", layout=OPENPOSE18, alpha=0.25, stages=1)
    assert model_metadata(model)["layout"] == "openpose18"


def test_deepercut_heads_and_stride():
    model = build_model("deepercut_resnet50", alpha=0.125, output_stride=8)
    assert describe_outputs(model)["stride"] == 4
    assert model.get_layer("resnet_v1_50.block4.unit_3.bottleneck_v1.conv2").dilation_rate == (4, 4)
    assert model.get_layer("resnet_v1_50.block1.unit_3.bottleneck_v1.conv2").strides == (2, 2)
    heat, locref = inference_model(model)(_image())
    assert float(np.min(heat)) >= 0.0 and float(np.max(heat)) <= 1.0   # sigmoid applied for inference
    assert model_metadata(model)["codec"]["locref_stdev"] == pytest.approx(7.2801)


def test_init_weights_keras_h5_same_architecture(lightweight, tmp_path):
    path = tmp_path / "w.weights.h5"
    lightweight.save_weights(path)
    again = build_model("lightweight_openpose", alpha=0.25, num_channels=32, num_refinement_stages=2,
                        init_weights=path)
    x = _image(seed=6)
    np.testing.assert_array_equal(again(x)["stage3_pafs"], lightweight(x)["stage3_pafs"])


def test_flop_count_of_a_known_layer():
    # The benchmark's GFLOPs: one 3x3 conv 3->8 at stride 1 on 32x16 = 2 * 32*16 * 3*3*3*8 FLOPs (+bias).
    count_flops = benchmark_module("architecture_cost").count_flops
    x = keras.Input((16, 32, 3))
    model = keras.Model(x, keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(x))
    assert count_flops(model, (32, 16)) == 2 * 32 * 16 * 3 * 3 * 3 * 8
