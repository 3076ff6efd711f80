"""pip-installable pose_core (ROS-free library + `pose` CLI) and pose_ros (rclpy nodes).

On a real ROS 2 install the package is built by colcon through CMakeLists.txt (messages + Python);
in a plain venv, scripts/setup.sh builds the messages with rosidl and installs this in editable mode.
"""
from setuptools import find_packages, setup

setup(
    name="pose_ros",
    version="0.1.0",
    description="Multi-person human pose estimation for ROS 2 on one TensorFlow core",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["pose_core", "pose_core.*", "pose_ros", "pose_ros.*"]),
    package_data={"pose_core": ["zoo/*.yaml"]},
    entry_points={
        "console_scripts": [
            "pose = pose_core.cli:main",
            "pose-train = pose_core.cli.train:main",
            "pose-data-service = pose_core.cli.data_service:main",
            "pose_node = pose_ros.pose_node:main",
            "pose_source = pose_ros.source_node:main",
            "pose_bag = pose_ros.bag_tool:main",
        ],
    },
)
