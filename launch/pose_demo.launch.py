"""Demo: the source node (image folder / video / webcam) + the pose node + RViz with config/pose.rviz.

    ros2 launch pose_ros pose_demo.launch.py source:=/path/to/photos model:=tf-pose_mobilenet_v2_small
    ros2 launch pose_ros pose_demo.launch.py source:=0 rate:=15 rviz:=false        (webcam 0, no RViz)

source: a digit is a webcam index (passed as an int), anything else a path; rate: frames per second (any
number). When pose_source ends (end of a video, camera unplugged) the whole launch shuts down. RViz is
optional: without rviz2 installed the demo starts without it and logs how to get it.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    IncludeLaunchDescription,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
    Shutdown,
)
from launch.event_handlers import OnProcessExit
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from pose_ros import launch_args

RVIZ_CONFIG = "pose.rviz"
POSE_LAUNCH = "pose.launch.py"


def source_and_rviz(context, *args, **kwargs):
    def arg(name):
        return LaunchConfiguration(name).perform(context)

    # Typed values: a LaunchConfiguration would reach the node typed by its look (INTEGER for "0" or "2").
    source = Node(package="pose_ros", executable="pose_source", name="pose_source", output="screen",
                  parameters=[{"source": launch_args.source(arg("source")), "loop": True,
                               "rate": launch_args.number("rate", arg("rate"), 0.1, 1000.0),
                               "frame_id": arg("frame_id")}])
    actions = [source, RegisterEventHandler(OnProcessExit(
        target_action=source, on_exit=[Shutdown(reason="pose_source exited")]))]
    if launch_args.flag("rviz", arg("rviz")):
        if launch_args.package_available("rviz2"):
            share = get_package_share_directory("pose_ros")
            actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
                                arguments=["-d", os.path.join(share, "config", RVIZ_CONFIG)]))
        else:
            actions.append(LogInfo(msg="rviz2 is not installed: starting without RViz (install it with "
                                       "`sudo apt install ros-$ROS_DISTRO-rviz2`, or pass rviz:=false)"))
    return actions


def generate_launch_description():
    share = get_package_share_directory("pose_ros")
    return LaunchDescription([
        DeclareLaunchArgument("source", default_value="0", description="image folder, video file or webcam index"),
        DeclareLaunchArgument("rate", default_value="10.0", description="source frames per second"),
        DeclareLaunchArgument("model", default_value="",
                              description="zoo name, config/<name>.yaml name or model folder ('' = default)"),
        DeclareLaunchArgument("frame_id", default_value="camera_optical", description="camera frame"),
        DeclareLaunchArgument("rviz", default_value="true", description="start RViz when rviz2 is installed"),
        OpaqueFunction(function=source_and_rviz),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", POSE_LAUNCH)),
            launch_arguments={"model": LaunchConfiguration("model")}.items()),
    ])
