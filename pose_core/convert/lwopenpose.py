"""Lightweight OpenPose PyTorch checkpoint (e.g. the published checkpoint_iter_370000.pth) -> our Keras
Lightweight OpenPose (pose_core.models.lightweight_openpose), without torch.

The checkpoint is read by pose_core.convert.torch_checkpoint (no pickled code runs). The architecture's
size (refinement stages, CPM width, MobileNet width, heatmap count) is read off the tensors' shapes; the
key -> Keras variable table and the tensor transforms (conv OIHW -> HWIO, depthwise (C,1,kh,kw) -> HWC1,
BN weight/bias/running_mean/running_var -> gamma/beta/moving_mean/moving_variance) come from the
architecture module (torch_key_map), so naming lives in one place. Every mismatch is a CheckpointError
naming the layer and both shapes (in PyTorch's layout).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from pose_core.convert.torch_checkpoint import find_state_dict, load_checkpoint
from pose_core.errors import CheckpointError

log = logging.getLogger(__name__)

STEM = "model.0.0"   # the only conv that sees the image


def _torch_shape(keras_shape: tuple, transform: str) -> tuple:
    """The PyTorch-layout shape a Keras variable expects (for error messages)."""
    if transform == "conv":          # HWIO -> OIHW
        h, w, i, o = keras_shape
        return (o, i, h, w)
    if transform == "depthwise":     # (kh, kw, C, 1) -> (C, 1, kh, kw)
        h, w, c, m = keras_shape
        return (c, m, h, w)
    return tuple(keras_shape)


def infer_params(state_dict: dict[str, np.ndarray], source: str = "checkpoint") -> dict:
    """Builder params that reproduce the checkpoint's architecture, read from tensor shapes."""
    required = ("model.0.0.weight", "cpm.align.0.weight", "initial_stage.heatmaps.1.0.weight",
                "initial_stage.pafs.1.0.weight")
    for key in required:
        if key not in state_dict:
            raise CheckpointError(f"{source}: no tensor {key}: not a Lightweight OpenPose checkpoint")
    stages = {int(m.group(1)) for k in state_dict if (m := re.match(r"refinement_stages\.(\d+)\.", k))}
    if stages and stages != set(range(len(stages))):
        raise CheckpointError(f"{source}: refinement stages {sorted(stages)} are not numbered 0..N-1")
    stem_channels = int(state_dict["model.0.0.weight"].shape[0])
    return {
        "num_refinement_stages": len(stages),
        "num_channels": int(state_dict["cpm.align.0.weight"].shape[0]),
        "alpha": stem_channels / 32.0,
        "num_heatmaps": int(state_dict["initial_stage.heatmaps.1.0.weight"].shape[0]),
        "num_pafs": int(state_dict["initial_stage.pafs.1.0.weight"].shape[0]),
    }


def load_state_dict_into(model, state_dict: dict[str, np.ndarray], *, bgr_input: bool = True,
                         source: str = "checkpoint") -> int:
    """Assign every tensor; strict both ways (no missing, no unused tensors). Returns tensors copied.
    bgr_input: the published weights take BGR; our models take RGB, so the stem kernel's input-channel
    axis is reversed."""
    from pose_core.models.lightweight_openpose import TRANSFORMS, torch_key_map

    mapping = torch_key_map(model)
    missing = [k for k in mapping if k not in state_dict]
    if missing:
        layer = mapping[missing[0]][0]
        raise CheckpointError(f"{source}: layer {layer}: checkpoint has no {missing[0]}"
                              f"{f' (and {len(missing) - 1} more missing)' if len(missing) > 1 else ''}")
    unused = [k for k in state_dict if k not in mapping and not k.endswith("num_batches_tracked")]
    if unused:
        raise CheckpointError(f"{source}: tensor {unused[0]} {tuple(state_dict[unused[0]].shape)} has no "
                              f"layer in the Keras model{f' (and {len(unused) - 1} more)' if len(unused) > 1 else ''}")
    variables = {}
    for layer in model.layers:
        for w in layer.weights:
            variables[(layer.name, w.name)] = w
    values = []
    for key, (layer_name, var_name, transform) in mapping.items():
        variable = variables[(layer_name, var_name)]
        tensor = np.asarray(state_dict[key])
        expected = _torch_shape(tuple(variable.shape), transform)
        if tuple(tensor.shape) != expected:
            raise CheckpointError(f"{source}: layer {layer_name}: checkpoint {key} has shape "
                                  f"{tuple(tensor.shape)}, the architecture expects {expected}")
        value = TRANSFORMS[transform](tensor)
        if bgr_input and layer_name == STEM and var_name == "kernel":
            value = value[:, :, ::-1, :]
        values.append((variable, np.ascontiguousarray(value, dtype=np.float32)))
    for variable, value in values:   # assign only after everything checked: no half-loaded model
        variable.assign(value)
    return len(values)


def convert_lwopenpose_checkpoint(path: str | Path, *, layout: str = "openpose18", bgr_input: bool = True):
    """Build our Keras Lightweight OpenPose sized like the checkpoint and load it. Returns the training
    model (dict of every stage's heatmaps/PAFs); pose_core.models.inference_model() gives the network
    that feeds PafCodec (last stage's [heatmaps, PAFs])."""
    source = str(path)
    state_dict = find_state_dict(load_checkpoint(path), source)
    params = infer_params(state_dict, source)

    from pose_core.layouts import get_layout  # TensorFlow only once the file is known to be good
    from pose_core.models import build_model
    from pose_core.models.common import paf_channels
    target = get_layout(layout)
    want = (target.num_keypoints + 1, paf_channels(target))
    if (params["num_heatmaps"], params["num_pafs"]) != want:
        raise CheckpointError(f"{source}: layer initial_stage.heatmaps.1.0 / pafs.1.0: checkpoint has "
                              f"{params['num_heatmaps']} heatmaps / {params['num_pafs']} PAFs, layout "
                              f"{layout} needs {want[0]} / {want[1]}")
    model = build_model("lightweight_openpose", layout=layout,
                        num_refinement_stages=params["num_refinement_stages"],
                        num_channels=params["num_channels"], alpha=params["alpha"])
    count = load_state_dict_into(model, state_dict, bgr_input=bgr_input, source=source)
    log.info("%s: copied %d tensors (%d refinement stages, %d channels)", source, count,
             params["num_refinement_stages"], params["num_channels"])
    return model
