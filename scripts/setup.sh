#!/usr/bin/env bash
# Create (or refresh) the project venv from the repo's own files: Python deps, the ROS 2 wheels, the ROS
# packages pose_msgs + pose_ros built with ament_cmake/rosidl into the venv prefix, and the Python code in
# editable mode. Re-running is a no-op when nothing it depends on changed (a stamp holds the hash of the
# inputs).
#   VENV=path (default .venv)   PYTHON=python3.x (default python3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
STAMP="$VENV/.pose_ros_setup_stamp"
cd "$ROOT"

inputs_hash() {
  cat requirements/*.txt pyproject.toml pose_msgs/package.xml pose_msgs/CMakeLists.txt pose_msgs/msg/*.msg \
      pose_ros/package.xml pose_ros/CMakeLists.txt launch/* config/*.* scripts/setup.sh scripts/build_msgs.sh \
      scripts/venv_activate_extra.sh 2>/dev/null | sha256sum | cut -d' ' -f1
}
HASH=$(inputs_hash)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ] && [ -x "$VENV/bin/python" ]; then
  echo "setup: $VENV is up to date"
  exit 0
fi

T0=$SECONDS
echo "setup: creating/updating $VENV (one-off, ~2-3 min)"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
"${PIP[@]}" -r requirements/core.txt -r requirements/ros.txt -r requirements/dev.txt
# colcon (for the colcon build test) in its own small venv: its setuptools pins stay out of the project venv.
[ -x "$VENV/colcon/bin/python" ] || "$PYTHON" -m venv "$VENV/colcon"
"$VENV/colcon/bin/python" -m pip install -q --disable-pip-version-check -r requirements/colcon.txt

# Environment every shell and test of this project needs (DDS on loopback only, ROS prefix = venv).
bash scripts/venv_activate_extra.sh "$VENV"

VENV="$VENV" bash scripts/build_msgs.sh
"${PIP[@]}" --no-deps -e .
echo "$HASH" > "$STAMP"
echo "setup: done in $((SECONDS - T0)) s"
