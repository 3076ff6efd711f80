"""Start the pose node on a camera topic; one argument picks the model's params file.

    ros2 launch pose_ros pose.launch.py model:=tf-pose_mobilenet_v2_small image:=/camera/color/image_raw
    ros2 launch pose_ros pose.launch.py model:=movenet/multipose-lightning compressed:=true depth:=true

model: a params file name in config/ (without .yaml); a zoo name with '/' works too ('/' -> '_').
Empty (the default) = config/pose_node.yaml only, i.e. the default model of pose_core/defaults.py.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

COMMON_PARAMS = "pose_node.yaml"


def model_params_file(config_dir: str, model: str) -> str:
    path = os.path.join(config_dir, model.replace("/", "_") + ".yaml")
    if not os.path.isfile(path):
        known = sorted(f[:-5] for f in os.listdir(config_dir) if f.endswith(".yaml") and f != COMMON_PARAMS)
        raise RuntimeError(f"no params file for model {model!r}: {path} (known: {', '.join(known)})")
    return path


def pose_node(context, *args, **kwargs):
    config_dir = os.path.join(get_package_share_directory("pose_ros"), "config")
    model = LaunchConfiguration("model").perform(context)
    params = [os.path.join(config_dir, COMMON_PARAMS)]
    if model:
        params.append(model_params_file(config_dir, model))
    overrides = {
        "compressed": LaunchConfiguration("compressed").perform(context).lower() == "true",
        "depth": LaunchConfiguration("depth").perform(context).lower() == "true",
    }
    image = LaunchConfiguration("image").perform(context)
    remaps = [("image", image), ("image/compressed", image + "/compressed"),
              ("depth", LaunchConfiguration("depth_image").perform(context)),
              ("camera_info", LaunchConfiguration("camera_info").perform(context))]
    return [Node(package="pose_ros", executable="pose_node", name="pose_node", output="screen",
                 parameters=params + [overrides], remappings=remaps)]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("model", default_value="", description="params file in config/ (or zoo name)"),
        DeclareLaunchArgument("image", default_value="image", description="camera image topic"),
        DeclareLaunchArgument("compressed", default_value="false", description="use <image>/compressed"),
        DeclareLaunchArgument("depth", default_value="false", description="3D keypoints from aligned depth"),
        DeclareLaunchArgument("depth_image", default_value="depth", description="aligned depth topic"),
        DeclareLaunchArgument("camera_info", default_value="camera_info", description="CameraInfo topic"),
        OpaqueFunction(function=pose_node),
    ])
