"""The venv as a ROS prefix, as users meet it: activating keeps an already sourced ROS/colcon environment,
and what `ros2 run pose_ros <exe>` / `ros2 launch pose_ros <file>` look up is installed in the prefix
(scripts/build_msgs.sh)."""
from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

VENV = Path(sys.prefix)


def activated_env(tmp_path: Path, preset: dict[str, str]) -> dict[str, str]:
    """Environment after `. bin/activate` (twice: re-activation must not stack) with `preset` exported."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    shutil.copy(VENV / "bin" / "activate", venv / "bin" / "activate")
    subprocess.run(["bash", str(ROOT / "scripts" / "venv_activate_extra.sh"), str(venv)], check=True)
    exports = "".join(f"export {k}={v!r}; " for k, v in preset.items())
    script = f"set -u; {exports}. {venv}/bin/activate; . {venv}/bin/activate; env -0"
    clean = {k: v for k, v in os.environ.items() if k not in ("AMENT_PREFIX_PATH", "POSE_MODELS_DIR")}
    out = subprocess.run(["bash", "-c", script], env=clean, capture_output=True, check=True).stdout.decode()
    return dict(kv.split("=", 1) for kv in out.split("\0") if "=" in kv)


def test_activation_prepends_the_venv_to_a_sourced_ament_prefix_path_and_keeps_models_dir(tmp_path):
    env = activated_env(tmp_path, {"AMENT_PREFIX_PATH": "/opt/ros/jazzy:/ws/install/my_pkg",
                                   "POSE_MODELS_DIR": "/data/my_models"})
    prefix = env["VIRTUAL_ENV"]
    assert env["AMENT_PREFIX_PATH"] == f"{prefix}:/opt/ros/jazzy:/ws/install/my_pkg"
    assert env["POSE_MODELS_DIR"] == "/data/my_models"


def test_activation_alone_makes_the_venv_the_prefix_and_keeps_an_overlay_built_on_it(tmp_path):
    env = activated_env(tmp_path, {})
    assert env["AMENT_PREFIX_PATH"] == env["VIRTUAL_ENV"]
    assert env["POSE_MODELS_DIR"].endswith(".cache/pose_ros/models")
    # An overlay sourced first that already has the venv as its underlay: order untouched.
    layered = f"/ws/install/pose_ros:{env['VIRTUAL_ENV']}"
    env = activated_env(tmp_path / "again", {"AMENT_PREFIX_PATH": layered})
    assert env["AMENT_PREFIX_PATH"] == layered


def test_ros2_run_and_launch_lookups_are_installed_in_the_venv_prefix():
    from ament_index_python.packages import get_package_prefix, get_package_share_directory
    share = Path(get_package_share_directory("pose_ros"))
    assert share == VENV / "share" / "pose_ros" and Path(get_package_prefix("pose_msgs")) == VENV
    from pose_core.defaults import DEFAULT_MODEL
    files = [f"launch/{p.name}" for p in (ROOT / "launch").glob("*.launch.py")]
    files += ["config/pose_node.yaml", "config/pose.rviz", f"config/{DEFAULT_MODEL.replace('/', '_')}.yaml"]
    match, mismatch, errors = filecmp.cmpfiles(ROOT, share, files, shallow=False)
    assert match == files, f"share/pose_ros differs from the repo: {mismatch + errors} (a new file in launch/ or " \
                           f"config/ is installed by the next scripts/build_msgs.sh or make setup)"
    for exe in ("pose_node", "pose_source", "pose_bag"):
        assert os.access(VENV / "lib" / "pose_ros" / exe, os.X_OK), exe


def test_installed_pose_source_executable_runs_like_ros2_run(images_dir, tmp_path):
    """`ros2 run pose_ros pose_source ...` executes <prefix>/lib/pose_ros/pose_source with the arguments."""
    run = subprocess.run([str(VENV / "lib" / "pose_ros" / "pose_source"), "--ros-args", "-p",
                          f"source:={images_dir}", "-p", "max_frames:=1", "-p", "rate:=5"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "published 1 frames" in run.stdout + run.stderr


@pytest.mark.parametrize("name", ["pose_msgs", "pose_ros"])
def test_venv_prefix_has_no_files_of_the_old_one_package_layout(name):
    """The messages were once generated into pose_ros itself; nothing of that may remain to shadow pose_msgs."""
    assert not (VENV / "lib" / "pose_ros" / "generated_py").exists()
    assert not list((VENV / "lib").glob("libpose_ros__rosidl*"))
    assert not (VENV / "share" / "pose_ros" / "msg").exists()
    assert (VENV / "share" / name / "package.xml").is_file()


def test_bag_tool_reads_msg_files_from_share_when_installed_next_to_generated_pose_msgs(tmp_path):
    """A merged install (/opt/ros style, `colcon build --merge-install`) puts pose_ros next to the generated
    Python package pose_msgs/msg, which has no .msg files: the bag tool must then use share/pose_msgs/msg."""
    site = tmp_path / "site-packages"
    (site / "pose_ros").mkdir(parents=True)
    shutil.copy(ROOT / "pose_ros" / "bag_tool.py", site / "pose_ros" / "bag_tool.py")
    (site / "pose_ros" / "__init__.py").write_text("")
    (site / "pose_msgs" / "msg").mkdir(parents=True)
    (site / "pose_msgs" / "msg" / "_person_array.py").write_text("")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from pose_ros.bag_tool import msg_dir, typestore; "
            "print(msg_dir()); assert 'pose_msgs/msg/PersonArray' in typestore().fielddefs")
    run = subprocess.run([sys.executable, "-c", code, str(site)], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == str(VENV / "share" / "pose_msgs" / "msg")
