"""The colcon path: CMakeLists.txt + package.xml build ONE package `pose_ros` (rosidl messages + our Python +
executables + launch/config), as `colcon build` does on a real ROS 2 install. Built here with the venv's
ament/rosidl into a scratch prefix, then imported from that prefix alone."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT

SOURCES = ("CMakeLists.txt", "package.xml", "msg", "pose_ros", "pose_core", "launch", "config")


def test_cmake_install_gives_one_pose_ros_package_with_msgs_code_and_executables(tmp_path):
    if shutil.which("cmake") is None:
        (pytest.fail if IN_CI else pytest.skip)("cmake not installed")
    venv = Path(sys.prefix)
    src, build, prefix = tmp_path / "src" / "pose_ros", tmp_path / "build", tmp_path / "install"
    src.mkdir(parents=True)
    for name in SOURCES:
        s = ROOT / name
        if s.is_dir():
            shutil.copytree(s, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(s, src / name)
    env = dict(os.environ, AMENT_PREFIX_PATH=str(venv))
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    steps = [["cmake", "-S", str(src), "-B", str(build), *gen, f"-DCMAKE_PREFIX_PATH={venv}",
              f"-DCMAKE_INSTALL_PREFIX={prefix}", "-DBUILD_TESTING=OFF", f"-DPython3_EXECUTABLE={sys.executable}"],
             ["cmake", "--build", str(build), "-j2"], ["cmake", "--install", str(build)]]
    for cmd in steps:
        run = subprocess.run(cmd, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    site = next(prefix.glob("lib/python3*/site-packages"))
    pkg = site / "pose_ros"
    assert (pkg / "pose_node.py").is_file() and (pkg / "msg" / "_person_array.py").is_file()
    assert list(pkg.glob("pose_ros_s__rosidl_typesupport_c*.so"))
    assert "rclpy nodes around pose_core" in (pkg / "__init__.py").read_text()    # ours, not rosidl's empty one
    assert (site / "pose_core" / "zoo" / "seeds.yaml").is_file()
    for exe in ("pose_node", "pose_source"):
        assert os.access(prefix / "lib" / "pose_ros" / exe, os.X_OK)
    share = prefix / "share" / "pose_ros"
    assert (share / "launch" / "pose.launch.py").is_file() and (share / "config" / "pose.rviz").is_file()
    assert (share / "msg" / "PersonArray.msg").is_file()

    code = ("import pose_ros.msg as m, pose_ros.pose_node as n, pose_core; "
            "from rclpy.serialization import serialize_message as s; "
            "print(m.__file__, n.__file__, pose_core.__file__, len(s(m.PersonArray())))")
    env = dict(os.environ, PYTHONPATH=str(site),
               LD_LIBRARY_PATH=f"{prefix / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}",
               AMENT_PREFIX_PATH=f"{prefix}:{venv}")
    run = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    files = run.stdout.split()
    assert all(f.startswith(str(site)) for f in files[:3]), files
