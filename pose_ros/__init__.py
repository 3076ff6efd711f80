"""pose_ros: rclpy nodes around pose_core, plus the rosidl-generated messages (`pose_ros.msg`).

One ROS package holds both. On a real ROS install (colcon), CMake installs these modules and the generated
`msg` module into the same site-packages/pose_ros directory. In the pip venv, scripts/build_msgs.sh installs
the generated part under <venv>/lib/pose_ros/generated_py/pose_ros and this package (editable install)
adds that directory to its own search path, so `import pose_ros.msg` works in both set-ups.
"""
import os as _os
import sys as _sys


def _generated_dirs():
    prefixes = [_sys.prefix] + _os.environ.get("AMENT_PREFIX_PATH", "").split(_os.pathsep)
    seen = set()
    for prefix in prefixes:
        path = _os.path.join(prefix, "lib", "pose_ros", "generated_py", "pose_ros")
        if prefix and path not in seen and _os.path.isdir(path):
            seen.add(path)
            yield path


__path__.extend(p for p in _generated_dirs() if p not in __path__)  # noqa: F821 (package __path__)
