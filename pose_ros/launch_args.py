"""Launch-argument checks and parameter building for launch/*.launch.py, kept free of `launch` so that they
are tested where launch/launch_ros are not installed (the PyPI venv).

Launch arguments are strings. Passed on as LaunchConfiguration substitutions, launch_ros types them by their
look (`source:=0` becomes an INTEGER parameter, `rate:=2` too), so the launch files convert them here to the
Python type the node declares, and reject a value of the wrong kind with one line naming the argument.
"""
from __future__ import annotations

import os

COMMON_PARAMS = "pose_node.yaml"
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


class LaunchArgumentError(ValueError):
    """A launch argument that cannot be used; the message names the argument and what it accepts."""


def flag(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in TRUE or v in FALSE:
        return v in TRUE
    raise LaunchArgumentError(f"launch argument '{name}' must be true or false, not {value!r}")


def number(name: str, value: str, lo: float, hi: float) -> float:
    try:
        x = float(value)
    except ValueError:
        raise LaunchArgumentError(f"launch argument '{name}' must be a number, not {value!r}") from None
    if not lo <= x <= hi:
        raise LaunchArgumentError(f"launch argument '{name}' must be in [{lo:g}, {hi:g}], not {value!r}")
    return x


def source(value: str) -> int | str:
    """Webcam index (int) for digits, else the path or /dev/videoN as a string."""
    v = value.strip()
    if not v:
        raise LaunchArgumentError("launch argument 'source' must be an image folder, video file or webcam index")
    return int(v) if v.isdigit() else v


def flag_overrides(args: dict[str, str]) -> dict[str, bool]:
    """Boolean node parameters given as launch arguments; an empty argument (the launch file's default) is left
    out, so the node's own default (pose_ros/params.py) applies and is not repeated in the launch file."""
    return {name: flag(name, value) for name, value in args.items() if value.strip()}


def model_params_file(config_dir: str, model: str) -> str | None:
    """config/<model>.yaml ('/' -> '_') when the project ships one for this model, else None."""
    path = os.path.join(config_dir, model.replace("/", "_") + ".yaml")
    return path if model and os.path.isfile(path) else None


def pose_node_params(config_dir: str, model: str) -> list:
    """Params files (and a dict) for pose_node: the common file, then the model's own file when there is one;
    any other zoo name or model folder goes to the `model` parameter with the common settings."""
    params: list = [os.path.join(config_dir, COMMON_PARAMS)]
    model = model.strip()
    if not model:
        return params                       # the default model (pose_core/defaults.py)
    own = model_params_file(config_dir, model)
    return params + [own] if own else params + [{"model": model}]


def package_available(name: str) -> bool:
    """True when the ament index knows package `name` (e.g. rviz2 is installed)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    try:
        get_package_prefix(name)
    except PackageNotFoundError:
        return False
    return True
