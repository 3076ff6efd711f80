"""Demo: the source node (image folder / video / webcam) + the pose node + RViz with config/pose.rviz.

    ros2 launch pose_ros pose_demo.launch.py source:=/path/to/photos model:=tf-pose_mobilenet_v2_small
    ros2 launch pose_ros pose_demo.launch.py source:=0 rviz:=false        (webcam 0, no RViz)
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

RVIZ_CONFIG = "pose.rviz"
POSE_LAUNCH = "pose.launch.py"


def generate_launch_description():
    share = get_package_share_directory("pose_ros")
    return LaunchDescription([
        DeclareLaunchArgument("source", default_value="0", description="image folder, video file or webcam"),
        DeclareLaunchArgument("rate", default_value="10.0", description="source frames per second"),
        DeclareLaunchArgument("model", default_value="", description="params file in config/ (or zoo name)"),
        DeclareLaunchArgument("frame_id", default_value="camera_optical", description="camera frame"),
        DeclareLaunchArgument("rviz", default_value="true", description="start RViz"),
        Node(package="pose_ros", executable="pose_source", name="pose_source", output="screen",
             parameters=[{"source": LaunchConfiguration("source"), "loop": True,
                          "rate": LaunchConfiguration("rate"), "frame_id": LaunchConfiguration("frame_id")}]),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", POSE_LAUNCH)),
            launch_arguments={"model": LaunchConfiguration("model")}.items()),
        Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
             arguments=["-d", os.path.join(share, "config", RVIZ_CONFIG)],
             condition=IfCondition(LaunchConfiguration("rviz"))),
    ])
