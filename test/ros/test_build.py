"""What a robot runs: `colcon build` of a workspace holding this repository finds and builds both ROS packages
(pose_msgs, then pose_ros), with the project venv as the underlay; the install tree has what `ros2 run` /
`ros2 launch` look for; and the INSTALLED pose_node, started with the INSTALLED params files next to the
installed pose_source, publishes PersonArray messages that a separate rclpy process receives.

colcon comes from PyPI in its own venv (<venv>/colcon, made by scripts/setup.sh) so its setuptools needs never
touch the project venv. One build serves the module; its duration is printed (pytest -s) for the docs."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT

VENV = Path(sys.prefix)
COLCON = VENV / "colcon" / "bin" / "colcon"
PY_SITE = Path(sysconfig.get_paths()["purelib"]).relative_to(VENV)    # lib/python3.X/site-packages
EXECUTABLES = ("pose_node", "pose_source", "pose_bag")
# Run a command in the built workspace's environment. colcon's setup.bash reads unset variables, so no -u.
IN_WS = 'set +u; . "$WS/install/setup.bash"; set -u; exec "$@"'


def missing(what: str):
    (pytest.fail if IN_CI else pytest.skip)(what)


def repo_files() -> list[str]:
    """Tracked and new (not ignored) files: what a clone of this repository holds."""
    run = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True)
    if run.returncode != 0:
        missing("not a git checkout: cannot tell the repository's files")
    return [f for f in run.stdout.decode().split("\0") if f and (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    if not COLCON.exists():
        missing(f"colcon not installed at {COLCON} (scripts/setup.sh makes it)")
    if shutil.which("cmake") is None:
        missing("cmake not installed")
    ws = tmp_path_factory.mktemp("colcon_ws")
    src = ws / "src" / "pose_ros"
    for f in repo_files():
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    env = dict(os.environ, AMENT_PREFIX_PATH=str(VENV), CMAKE_PREFIX_PATH=str(VENV),
               PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}")
    t0 = time.monotonic()
    run = subprocess.run([str(COLCON), "--log-base", "log", "build", "--base-paths", "src",
                          "--event-handlers", "console_direct-", "--cmake-args",
                          f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"],
                         cwd=ws, env=env, capture_output=True, text=True)
    print(f"\ncolcon build of pose_msgs + pose_ros: {time.monotonic() - t0:.1f} s")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "2 packages finished" in run.stdout, run.stdout[-2000:]
    return ws


def in_ws(cmd: list[str]) -> list[str]:
    """`cmd` in the environment of the workspace named by $WS (its install/setup.bash sourced)."""
    return ["bash", "-c", IN_WS, "_", *cmd]


def test_one_colcon_build_builds_pose_msgs_before_pose_ros(workspace):
    order = subprocess.run([str(COLCON), "--log-base", "/dev/null", "list", "--topological-order",
                            "--base-paths", "src"], cwd=workspace, capture_output=True, text=True)
    assert order.returncode == 0, order.stderr
    names = [line.split()[0] for line in order.stdout.splitlines()]
    assert names == ["pose_msgs", "pose_ros"], order.stdout


def installed_paths(ws: Path) -> list[Path]:
    """Every install-tree path the ROS tools look for (listed in docs/ros.md)."""
    from pose_core.defaults import DEFAULT_MODEL
    msgs, ros = ws / "install" / "pose_msgs", ws / "install" / "pose_ros"
    index = "share/ament_index/resource_index"
    paths = [msgs / index / "packages" / "pose_msgs", msgs / index / "rosidl_interfaces" / "pose_msgs",
             msgs / "share/pose_msgs/package.xml", msgs / PY_SITE / "pose_msgs/msg/_person_array.py",
             ros / index / "packages" / "pose_ros", ros / "share/pose_ros/package.xml",
             ros / PY_SITE / "pose_ros/pose_node.py", ros / PY_SITE / "pose_core/zoo/seeds.yaml"]
    paths += [msgs / "share/pose_msgs/msg" / f"{m}.msg" for m in ("Keypoint", "Person", "PersonArray")]
    paths += [ros / "share/pose_ros/launch" / f for f in ("pose.launch.py", "pose_demo.launch.py")]
    paths += [ros / "share/pose_ros/config" / f for f in ("pose_node.yaml", DEFAULT_MODEL.replace("/", "_")
                                                          + ".yaml", "pose.rviz", "dds/fastdds_loopback.xml")]
    return paths


def test_install_tree_has_index_launch_config_and_executables(workspace):
    absent = [str(p.relative_to(workspace)) for p in installed_paths(workspace) if not p.is_file()]
    assert not absent, f"missing from the install tree: {absent}"
    for exe in EXECUTABLES:
        assert os.access(workspace / "install/pose_ros/lib/pose_ros" / exe, os.X_OK), exe
    # The messages are only in pose_msgs: nothing under pose_ros could shadow them.
    assert not (workspace / "install/pose_ros" / PY_SITE / "pose_ros/msg").exists()
    assert "<depend>pose_msgs</depend>" in (workspace / "install/pose_ros/share/pose_ros/package.xml").read_text()


def test_workspace_environment_imports_the_installed_packages(workspace):
    # The bag tool registers pose_msgs in rosbags from the installed share/pose_msgs/msg/*.msg.
    code = ("import json, pose_ros.pose_node as n, pose_msgs.msg as m, pose_core\n"
            "from ament_index_python.packages import get_package_share_directory as share\n"
            "from rclpy.serialization import serialize_message as s\n"
            "from pose_ros.bag_tool import msg_dir, typestore\n"
            "assert 'pose_msgs/msg/PersonArray' in typestore().fielddefs\n"
            "print(json.dumps([n.__file__, m.__file__, pose_core.__file__, share('pose_ros'), share('pose_msgs'),"
            " str(msg_dir()), len(s(m.PersonArray()))]))")
    run = subprocess.run(in_ws([sys.executable, "-c", code]), cwd=workspace, capture_output=True,
                         text=True, env=dict(os.environ, WS=str(workspace)))
    assert run.returncode == 0, run.stderr[-3000:]
    *files, size = json.loads(run.stdout.splitlines()[-1])
    install = str(workspace / "install")
    assert all(f.startswith(install) for f in files), files      # not the editable checkout, not the venv
    assert size > 0


SUBSCRIBER = r'''
import json, sys, time
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from pose_msgs.msg import PersonArray

rclpy.init()
node = Node("colcon_test_listener")
image_stamps, results = {}, []
node.create_subscription(Image, "image", lambda m: image_stamps.setdefault(
    (m.header.stamp.sec, m.header.stamp.nanosec), m.header.frame_id), QoSProfile(depth=50))
node.create_subscription(PersonArray, "poses", results.append, QoSProfile(depth=50))
end = time.monotonic() + float(sys.argv[1])
match = None
while match is None and time.monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.2)
    match = next((r for r in results if (r.header.stamp.sec, r.header.stamp.nanosec) in image_stamps), None)
out = {"results": len(results), "images": len(image_stamps)}
if match is not None:
    key = (match.header.stamp.sec, match.header.stamp.nanosec)
    out.update(frame_id=match.header.frame_id, image_frame_id=image_stamps[key], model=match.model,
               layout=match.layout, size=[match.image_width, match.image_height], persons=len(match.persons))
print(json.dumps(out), flush=True)
sys.exit(0 if match is not None else 1)
'''


def test_installed_pose_node_with_installed_params_publishes_person_arrays(workspace, models_dir, images_dir,
                                                                           tmp_path):
    from pose_core.defaults import DEFAULT_MODEL

    from ros_graph import stop
    share = workspace / "install/pose_ros/share/pose_ros/config"
    lib = workspace / "install/pose_ros/lib/pose_ros"
    env = dict(os.environ, WS=str(workspace), POSE_MODELS_DIR=str(models_dir))
    script = tmp_path / "listener.py"
    script.write_text(SUBSCRIBER)
    node_log, source_log = tmp_path / "pose_node.log", tmp_path / "pose_source.log"
    procs = []
    try:
        listener = subprocess.Popen(in_ws([sys.executable, str(script), "240"]), cwd=tmp_path, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(listener)
        procs.append(subprocess.Popen(
            in_ws([str(lib / "pose_node"), "--ros-args", "--params-file", str(share / "pose_node.yaml"),
                              "--params-file", str(share / (DEFAULT_MODEL.replace("/", "_") + ".yaml"))]),
            cwd=tmp_path, env=env, stdout=node_log.open("wb"), stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(
            in_ws([str(lib / "pose_source"), "--ros-args", "-p", f"source:={images_dir}",
                              "-p", "rate:=2", "-p", "loop:=true", "-p", "frame_id:=colcon_cam"]),
            cwd=tmp_path, env=env, stdout=source_log.open("wb"), stderr=subprocess.STDOUT))
        out, _ = listener.communicate(timeout=300)
    finally:
        for p in reversed(procs):
            stop(p)
    logs = f"{out[-2000:]}\n--- pose_node\n{node_log.read_text()[-3000:]}\n--- pose_source\n" \
           f"{source_log.read_text()[-2000:]}"
    assert listener.returncode == 0, logs
    got = json.loads(out.strip().splitlines()[-1])
    assert got["frame_id"] == got["image_frame_id"] == "colcon_cam", got
    assert got["model"] == DEFAULT_MODEL and got["layout"] == "coco17", got
    assert got["size"][0] > 0 and got["size"][1] > 0, got
