"""Start the pose node on a camera topic; one argument picks the model.

    ros2 launch pose_ros pose.launch.py model:=tf-pose_mobilenet_v2_small image:=/camera/color/image_raw
    ros2 launch pose_ros pose.launch.py model:=movenet/multipose-lightning compressed:=true depth:=true
    ros2 launch pose_ros pose.launch.py model:=/path/to/exported_model_folder
    ros2 launch pose_ros pose.launch.py autostart:=false      (a lifecycle manager configures/activates it)

model: a zoo name or params file name with a config/<name>.yaml ('/' -> '_') uses that file after the common
config/pose_node.yaml; any other zoo name or model folder is passed as the `model` parameter with the common
file. Empty (the default) = the default model of pose_core/defaults.py. Boolean arguments take true/false
(empty, their default: the node's own default); anything else stops the launch with one line naming the
argument.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler, Shutdown
from launch.event_handlers import OnProcessExit
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from pose_ros import launch_args


def pose_node(context, *args, **kwargs):
    def arg(name):
        return LaunchConfiguration(name).perform(context)

    config_dir = os.path.join(get_package_share_directory("pose_ros"), "config")
    params = launch_args.pose_node_params(config_dir, arg("model"))
    overrides = launch_args.flag_overrides({name: arg(name) for name in ("compressed", "depth", "autostart")})
    image = arg("image")
    remaps = [("image", image), ("image/compressed", image + "/compressed"),
              ("depth", arg("depth_image")), ("camera_info", arg("camera_info"))]
    node = Node(package="pose_ros", executable="pose_node", name="pose_node", output="screen",
                parameters=params + [overrides], remappings=remaps)
    # The node is what this launch is for: when it ends (bad model, crash), end the launch too.
    stop = RegisterEventHandler(OnProcessExit(target_action=node,
                                              on_exit=[Shutdown(reason="pose_node exited")]))
    return [node, stop]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("model", default_value="",
                              description="zoo name, config/<name>.yaml name or model folder ('' = default)"),
        DeclareLaunchArgument("image", default_value="image", description="camera image topic"),
        # Boolean node parameters: '' = the node's own default (pose_ros/params.py), not repeated here.
        DeclareLaunchArgument("compressed", default_value="", description="use <image>/compressed (true/false)"),
        DeclareLaunchArgument("depth", default_value="", description="3D keypoints from aligned depth (true/false)"),
        DeclareLaunchArgument("depth_image", default_value="depth", description="aligned depth topic"),
        DeclareLaunchArgument("camera_info", default_value="camera_info", description="CameraInfo topic"),
        DeclareLaunchArgument("autostart", default_value="",
                              description="configure + activate the lifecycle node at start (true/false)"),
        OpaqueFunction(function=pose_node),
    ])
