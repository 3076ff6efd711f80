"""config/*.yaml hold overrides only: every key is a real pose_node parameter and no value repeats a default
(pose_ros/params.py, or the model's zoo entry for its score thresholds and detect_every), so defaults keep ONE
home and cannot creep back. The launch files pass only real parameters too."""
from __future__ import annotations

import re

import pytest
import yaml

pytest.importorskip("rclpy")
from rclpy.parameter import Parameter  # noqa: E402

from conftest import ROOT  # noqa: E402
from pose_core import zoo  # noqa: E402
from pose_core.defaults import DEFAULT_MODEL  # noqa: E402
from pose_ros import launch_args  # noqa: E402
from pose_ros.params import FILTER_DEFAULTS, POSE_NODE_PARAMS, descriptor  # noqa: E402

CONFIG = ROOT / "config"
PARAM_FILES = sorted(CONFIG.glob("*.yaml"))
# A model's own file names its model: that is what the file is for, even when it is the default model.
IDENTITY = "model"


def overrides(path) -> dict:
    doc = yaml.safe_load(path.read_text())
    assert list(doc) == ["/**"] and list(doc["/**"]) == ["ros__parameters"], f"{path.name}: not a params file"
    return doc["/**"]["ros__parameters"] or {}


def model_defaults(model: str) -> dict:
    """What the model's zoo entry already gives the node when the parameter is not set."""
    stated = dict(zoo.stated_filter(model))
    pipeline = zoo.get_pipeline(model)
    if pipeline is not None and "detect_every" in pipeline.options:
        stated["detect_every"] = pipeline.options["detect_every"]
    return stated


def test_there_are_params_files():
    assert CONFIG / "pose_node.yaml" in PARAM_FILES and len(PARAM_FILES) > 3


@pytest.mark.parametrize("path", PARAM_FILES, ids=lambda p: p.name)
def test_params_file_holds_real_overrides_only(path):
    params = overrides(path)
    assert path.read_text().startswith("#"), f"{path.name}: say at the top where the defaults are"
    unknown = sorted(set(params) - set(POSE_NODE_PARAMS))
    assert not unknown, f"{path.name}: not pose_node parameters: {unknown}"
    model = params.get("model", DEFAULT_MODEL)
    from_zoo = model_defaults(model)
    for key, value in params.items():
        if key == IDENTITY:
            continue
        default = POSE_NODE_PARAMS[key].default
        if isinstance(default, Parameter.Type):
            default = FILTER_DEFAULTS.get(key)
        assert value != default, f"{path.name}: {key}: {value!r} repeats the default of pose_ros/params.py"
        assert from_zoo.get(key) != value, f"{path.name}: {key}: {value!r} repeats {model}'s zoo entry"


def test_model_files_name_their_model():
    for path in PARAM_FILES:
        if path.name != launch_args.COMMON_PARAMS:
            assert overrides(path)[IDENTITY].replace("/", "_") + ".yaml" == path.name


def test_filter_defaults_are_the_ones_the_descriptions_give():
    for key, value in FILTER_DEFAULTS.items():
        assert isinstance(POSE_NODE_PARAMS[key].default, Parameter.Type)       # unset: the model's own first
        assert f"else {value}" in POSE_NODE_PARAMS[key].description
        d = descriptor(key, POSE_NODE_PARAMS[key])                # declared unset, still range-checked
        assert not d.integer_range and (d.floating_point_range[0].from_value,
                                        d.floating_point_range[0].to_value) == (0.0, 1.0)


def test_launch_files_pass_real_parameters():
    for path in sorted((ROOT / "launch").glob("*.py")):
        text = path.read_text()
        if "executable=\"pose_node\"" not in text:
            continue
        given = re.findall(r'"(\w+)": launch_args\.', text)
        assert given and set(given) <= set(POSE_NODE_PARAMS), f"{path.name}: {given}"
    for value in ("", "movenet/thunder", "some/folder"):
        extra = [p for p in launch_args.pose_node_params(str(CONFIG), value) if isinstance(p, dict)]
        assert all(set(p) <= set(POSE_NODE_PARAMS) for p in extra)
