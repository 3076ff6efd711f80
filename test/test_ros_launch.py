"""Launch files and params files (launch/launch_ros cannot be installed here, so the launch files are
byte-compiled and every file they reference is checked; params files are checked against the node's
declared parameters and types)."""
from __future__ import annotations

import ast
import py_compile
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

LAUNCH = sorted((ROOT / "launch").glob("*.launch.py"))
CONFIG = ROOT / "config"


def string_constants(path: Path) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


def test_launch_files_exist():
    assert {p.name for p in LAUNCH} >= {"pose.launch.py", "pose_demo.launch.py"}


@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_launch_file_compiles_and_references_existing_files(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / "out.pyc"), doraise=True)
    tree = ast.parse(path.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    for ref in string_constants(path):
        if ref.endswith((".yaml", ".rviz")) and not ref.startswith("."):   # not bare suffixes
            assert (CONFIG / ref).is_file(), f"{path.name} references missing config/{ref}"
        elif ref.endswith(".launch.py"):
            assert (ROOT / "launch" / ref).is_file(), f"{path.name} references missing launch/{ref}"


def test_launch_executables_are_installed_by_cmake_and_pip():
    cmake = (ROOT / "pose_ros" / "CMakeLists.txt").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    for exe, module in (("pose_node", "pose_ros.pose_node"), ("pose_source", "pose_ros.source_node")):
        assert f"{exe}:{module}" in cmake and f'{exe} = "{module}:main"' in pyproject


def params_files() -> list[Path]:
    return sorted(p for p in CONFIG.glob("*.yaml"))


@pytest.mark.parametrize("path", params_files(), ids=lambda p: p.name)
def test_params_files_name_declared_parameters_with_matching_types(path):
    from pose_ros.params import POSE_NODE_PARAMS
    doc = yaml.safe_load(path.read_text())
    params = doc["/**"]["ros__parameters"]
    for name, value in params.items():
        assert name in POSE_NODE_PARAMS, f"{path.name}: unknown parameter {name}"
        default = POSE_NODE_PARAMS[name].default
        assert type(value) is type(default), f"{path.name}: {name}={value!r} is not a {type(default).__name__}"


@pytest.mark.parametrize("path", [p for p in params_files() if p.name != "pose_node.yaml"], ids=lambda p: p.name)
def test_model_params_files_are_named_after_existing_zoo_models(path):
    from pose_core import zoo
    model = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]["model"]
    assert path.stem == model.replace("/", "_")
    assert zoo.get_spec(model).name == model


def test_default_model_has_a_params_file():
    from pose_core.defaults import DEFAULT_MODEL
    assert (CONFIG / (DEFAULT_MODEL.replace("/", "_") + ".yaml")).is_file()


def test_rviz_config_shows_markers_and_annotated_image_on_the_node_topics():
    from pose_ros.params import POSE_NODE_PARAMS
    rviz = yaml.safe_load((CONFIG / "pose.rviz").read_text())
    topics = {d.get("Topic", {}).get("Value") for d in rviz["Visualization Manager"]["Displays"]}
    assert "/" + POSE_NODE_PARAMS["markers_topic"].default in topics
    assert "/" + POSE_NODE_PARAMS["annotated_topic"].default in topics
