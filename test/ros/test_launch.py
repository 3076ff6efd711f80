"""Launch files and params files. launch/launch_ros are on no registry reachable here: the launch files are
byte-compiled, their structure checked and the argument handling they delegate to pose_ros.launch_args
tested; where `launch` is importable they are also imported and their declared arguments checked. Params
files are checked against the node's declared parameters and types, and hold overrides only: no value repeats
a default (pose_ros/params.py, or the model's own for its score thresholds and detect_every), so defaults keep
ONE home and cannot creep back."""
from __future__ import annotations

import ast
import importlib.util
import py_compile
import re
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
    from rclpy.parameter import Parameter
    declared = {Parameter.Type.DOUBLE: float, Parameter.Type.INTEGER: int, Parameter.Type.STRING: str,
                Parameter.Type.BOOL: bool, Parameter.Type.STRING_ARRAY: list}      # declared unset, by type
    for name, value in params.items():
        assert name in POSE_NODE_PARAMS, f"{path.name}: unknown parameter {name}"
        default = POSE_NODE_PARAMS[name].default
        kind = declared[default] if isinstance(default, Parameter.Type) else type(default)
        assert type(value) is kind, f"{path.name}: {name}={value!r} is not a {kind.__name__}"


@pytest.mark.parametrize("path", [p for p in params_files() if p.name != "pose_node.yaml"], ids=lambda p: p.name)
def test_model_params_files_are_named_after_existing_zoo_models(path):
    from pose_core import zoo
    model = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]["model"]
    assert path.stem == model.replace("/", "_")
    assert model in zoo.known_names()             # a pose model or a pipeline


def test_default_model_has_a_params_file():
    from pose_core.defaults import DEFAULT_MODEL
    assert (CONFIG / (DEFAULT_MODEL.replace("/", "_") + ".yaml")).is_file()


# A model's own file names its model: that is what the file is for, even when it is the default model.
IDENTITY = "model"


def overrides(path) -> dict:
    doc = yaml.safe_load(path.read_text())
    assert list(doc) == ["/**"] and list(doc["/**"]) == ["ros__parameters"], f"{path.name}: not a params file"
    return doc["/**"]["ros__parameters"] or {}


def model_defaults(model: str) -> dict:
    """What the model itself already gives the node when the parameter is not set."""
    from pose_core import zoo
    stated = dict(zoo.stated_filter(model))
    pipeline = zoo.get_pipeline(model)
    if pipeline is not None and "detect_every" in pipeline.options:
        stated["detect_every"] = pipeline.options["detect_every"]
    return stated


@pytest.mark.parametrize("path", params_files(), ids=lambda p: p.name)
def test_params_file_holds_overrides_only(path):
    from rclpy.parameter import Parameter

    from pose_core.defaults import DEFAULT_MODEL
    from pose_ros.params import FILTER_DEFAULTS, POSE_NODE_PARAMS
    params = overrides(path)
    assert path.read_text().startswith("#"), f"{path.name}: say at the top where the defaults are"
    model = params.get("model", DEFAULT_MODEL)
    from_zoo = model_defaults(model)
    for key, value in params.items():
        if key == IDENTITY:
            continue
        default = POSE_NODE_PARAMS[key].default
        if isinstance(default, Parameter.Type):
            default = FILTER_DEFAULTS.get(key)
        assert value != default, f"{path.name}: {key}: {value!r} repeats the default of pose_ros/params.py"
        assert from_zoo.get(key) != value, f"{path.name}: {key}: {value!r} repeats {model}'s own value"


def test_filter_defaults_are_the_ones_the_descriptions_give():
    from rclpy.parameter import Parameter

    from pose_ros.params import FILTER_DEFAULTS, POSE_NODE_PARAMS, descriptor
    for key, value in FILTER_DEFAULTS.items():
        assert isinstance(POSE_NODE_PARAMS[key].default, Parameter.Type)       # unset: the model's own first
        assert f"else {value}" in POSE_NODE_PARAMS[key].description
        d = descriptor(key, POSE_NODE_PARAMS[key])                # declared unset, still range-checked
        assert not d.integer_range and (d.floating_point_range[0].from_value,
                                        d.floating_point_range[0].to_value) == (0.0, 1.0)


def test_node_filter_is_the_users_value_else_the_models_else_the_node_default():
    from pose_ros.params import FILTER_DEFAULTS, result_filter

    def resolved(model, person=None, keypoint=None):
        r = result_filter({"model": model, "min_person_score": person, "min_keypoint_score": keypoint})
        return r["min_person_score"], r["min_keypoint_score"]

    assert resolved("movenet/thunder") == (0.2, 0.2)                    # MoveNet's own (its codec family's)
    assert resolved("movenet/thunder", 0.05, 0.05) == (0.05, 0.05)      # the user's, lower, wins
    assert resolved("movenet/thunder", keypoint=0.0) == (0.2, 0.0)
    assert resolved("pose-mobile/cpm") == tuple(FILTER_DEFAULTS.values())   # nothing of its own
    # A pipeline: its own person value (zoo entry), its pose model's keypoint value.
    assert resolved("topdown/yolox-nano+movenet-thunder") == (0.1, 0.2)


def test_launch_files_pass_real_parameters_and_no_defaults():
    from pose_ros import launch_args
    from pose_ros.params import POSE_NODE_PARAMS
    text = (ROOT / "launch" / "pose.launch.py").read_text()
    (names,) = re.findall(r"flag_overrides\(\{name: arg\(name\) for name in \(([^)]*)\)", text)
    given = re.findall(r'"(\w+)"', names)
    assert given and set(given) <= set(POSE_NODE_PARAMS), given
    assert all(isinstance(POSE_NODE_PARAMS[n].default, bool) for n in given)
    # A launch argument left empty is left out: the node's own default applies.
    assert launch_args.flag_overrides({"compressed": "", "depth": "true", "autostart": "False"}) == {
        "depth": True, "autostart": False}
    with pytest.raises(launch_args.LaunchArgumentError, match="'depth'"):
        launch_args.flag_overrides({"depth": "maybe"})
    for value in ("", "movenet/thunder", "some/folder"):
        extra = [p for p in launch_args.pose_node_params(str(CONFIG), value) if isinstance(p, dict)]
        assert all(set(p) <= set(POSE_NODE_PARAMS) for p in extra)


def test_rviz_config_shows_markers_and_annotated_image_on_the_node_topics():
    from pose_ros.params import POSE_NODE_PARAMS
    rviz = yaml.safe_load((CONFIG / "pose.rviz").read_text())
    topics = {d.get("Topic", {}).get("Value") for d in rviz["Visualization Manager"]["Displays"]}
    assert "/" + POSE_NODE_PARAMS["markers_topic"].default in topics
    assert "/" + POSE_NODE_PARAMS["annotated_topic"].default in topics


def test_rviz_fixed_frame_and_display_classes_match_what_the_node_publishes():
    """The node stamps its markers/annotated image with the camera image's frame_id; in the demo that is
    pose_source's frame_id. RViz shows nothing when its fixed frame differs or a display's class does not
    match the message type on its topic."""
    from pose_ros.markers import NAMESPACE_JOINTS, NAMESPACE_LIMBS
    from pose_ros.params import POSE_NODE_PARAMS
    from pose_ros.source_node import SOURCE_PARAMS
    manager = yaml.safe_load((CONFIG / "pose.rviz").read_text())["Visualization Manager"]
    demo_frame = next(c for c in calls(ast.parse((ROOT / "launch" / "pose_demo.launch.py").read_text()),
                                       "DeclareLaunchArgument") if c.args[0].value == "frame_id")
    fixed = manager["Global Options"]["Fixed Frame"]
    assert fixed == SOURCE_PARAMS["frame_id"].default == keyword(demo_frame, "default_value").value
    by_topic = {d["Topic"]["Value"]: d for d in manager["Displays"] if "Topic" in d}
    want = {POSE_NODE_PARAMS["markers_topic"].default: "rviz_default_plugins/MarkerArray",
            POSE_NODE_PARAMS["annotated_topic"].default: "rviz_default_plugins/Image"}
    for topic, cls in want.items():
        assert by_topic["/" + topic]["Class"] == cls, topic
    markers = by_topic["/" + POSE_NODE_PARAMS["markers_topic"].default]
    assert set(markers["Namespaces"]) == {NAMESPACE_JOINTS, NAMESPACE_LIMBS}
    assert {d["Class"] for d in manager["Displays"]} <= {"rviz_default_plugins/Grid", *want.values()}


def test_pose_launch_remaps_the_node_input_topics_it_subscribes_to():
    """pose.launch.py remaps image, image/compressed, depth and camera_info: those must be the node's own
    (default) input topic names, or the remap silently does nothing."""
    from pose_ros.params import POSE_NODE_PARAMS
    tree = ast.parse((ROOT / "launch" / "pose.launch.py").read_text())
    remaps = next(a.value for a in ast.walk(tree) if isinstance(a, ast.Assign)
                  and getattr(a.targets[0], "id", None) == "remaps")
    sources = {e.elts[0].value for e in remaps.elts}
    image = POSE_NODE_PARAMS["image_topic"].default
    assert sources == {image, image + "/compressed", POSE_NODE_PARAMS["depth_topic"].default,
                       POSE_NODE_PARAMS["camera_info_topic"].default}


# ---------------------------------------------------------------- launch argument handling (pose_ros.launch_args)

def test_flags_numbers_and_sources_become_typed_values_or_one_line_naming_the_argument():
    from pose_ros.launch_args import LaunchArgumentError, flag, number, source
    assert flag("rviz", "true") is True and flag("rviz", "False") is False
    assert number("rate", "2", 0.1, 1000) == 2.0 and isinstance(number("rate", "2", 0.1, 1000), float)
    assert source("0") == 0 and source("/data/photos") == "/data/photos" and source("/dev/video2") == "/dev/video2"
    for call, name in ((lambda: flag("rviz", "maybe"), "rviz"), (lambda: number("rate", "fast", 0.1, 1000), "rate"),
                       (lambda: number("rate", "0", 0.1, 1000), "rate"), (lambda: source(" "), "source")):
        with pytest.raises(LaunchArgumentError, match=f"launch argument '{name}'") as e:
            call()
        assert "\n" not in str(e.value)


def test_model_argument_takes_params_files_zoo_names_and_model_folders(tmp_path):
    from pose_ros.launch_args import pose_node_params
    common = str(CONFIG / "pose_node.yaml")
    assert pose_node_params(str(CONFIG), "") == [common]
    for name in ("movenet/thunder", "movenet_thunder"):
        assert pose_node_params(str(CONFIG), name) == [common, str(CONFIG / "movenet_thunder.yaml")]
    # No params file of its own: the zoo name or folder is the `model` parameter, with the common settings.
    assert pose_node_params(str(CONFIG), "yolox/nano") == [common, {"model": "yolox/nano"}]
    assert pose_node_params(str(CONFIG), str(tmp_path)) == [common, {"model": str(tmp_path)}]


def test_rviz2_presence_comes_from_the_ament_index():
    from pose_ros.launch_args import package_available
    assert package_available("pose_msgs") and package_available("pose_ros")   # installed into the venv prefix
    assert not package_available("no_such_package_xyz")


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (getattr(n.func, "id", None) == name or getattr(n.func, "attr", None) == name)]


def keyword(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_node_parameters_are_typed_values_not_raw_launch_configurations(path):
    """A LaunchConfiguration in `parameters` reaches the node typed by its look (source:=0 -> INTEGER)."""
    tree = ast.parse(path.read_text())
    for node in calls(tree, "Node"):
        params = keyword(node, "parameters")
        assert params is None or not calls(params, "LaunchConfiguration"), \
            f"{path.name}: line {node.lineno} passes a raw LaunchConfiguration as a parameter"


def test_demo_shuts_down_when_pose_source_exits():
    tree = ast.parse((ROOT / "launch" / "pose_demo.launch.py").read_text())
    sources = {t.id for a in ast.walk(tree) if isinstance(a, ast.Assign) and isinstance(a.value, ast.Call)
               and calls(a.value, "Node") and any(isinstance(c, ast.Constant) and c.value == "pose_source"
                                                  for c in ast.walk(a.value)) for t in a.targets}
    handlers = [c for c in calls(tree, "OnProcessExit") if getattr(keyword(c, "target_action"), "id", None) in sources]
    assert sources and handlers, "no OnProcessExit handler on the pose_source node"
    assert all(calls(keyword(c, "on_exit"), "Shutdown") for c in handlers)


def test_demo_starts_rviz_only_where_rviz2_is_installed_and_says_so_otherwise():
    tree = ast.parse((ROOT / "launch" / "pose_demo.launch.py").read_text())
    rviz = [c for c in calls(tree, "Node") if getattr(keyword(c, "package"), "value", None) == "rviz2"]
    guarded = [i for i in ast.walk(tree) if isinstance(i, ast.If) and calls(i.test, "package_available")
               and any(c in list(ast.walk(i)) for c in rviz)]
    assert rviz and guarded, "the rviz2 Node is not behind a package_available('rviz2') check"
    assert any("rviz2" in str(getattr(keyword(c, "msg"), "value", "")) for c in calls(guarded[0], "LogInfo"))


def launch_importable() -> str | None:
    """None where ROS launch can load the files; else the skip reason (allow-listed in conftest for a missing
    launch_ros, the one part no registry reachable from CI has)."""
    for mod in ("launch_ros", "launch"):
        if importlib.util.find_spec(mod) is None:
            return f"launch_ros is not installed (ROS launch is on no registry reachable from here; {mod} missing)"
    import launch
    if not hasattr(launch, "LaunchDescription"):
        return "the installed `launch` module is not ROS launch (PyPI's `launch` is an unrelated app)"
    return None


EXPECTED_ARGUMENTS = {
    "pose.launch.py": {"model": "", "image": "image", "compressed": "", "depth": "",     # '': the node's default
                       "depth_image": "depth", "camera_info": "camera_info", "autostart": ""},
    "pose_demo.launch.py": {"source": "0", "rate": "10.0", "model": "", "frame_id": "camera_optical", "rviz": "true"},
}


@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_launch_file_imports_and_declares_its_arguments(path):
    reason = launch_importable()
    if reason:
        pytest.skip(reason)
    from launch.actions import DeclareLaunchArgument
    from launch.launch_context import LaunchContext
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = {e.name: "".join(s.perform(LaunchContext()) for s in e.default_value)
                for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert declared == EXPECTED_ARGUMENTS[path.name]
