#!/usr/bin/env bash
# Create (or refresh) the project venv from the repo's own files: Python deps, the ROS 2 wheels, the
# pose_ros messages built with rosidl, and this package in editable mode. Re-running is a no-op when
# nothing it depends on changed (a stamp holds the hash of the inputs).
#   VENV=path (default .venv)   PYTHON=python3.x (default python3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
STAMP="$VENV/.pose_ros_setup_stamp"
cd "$ROOT"

inputs_hash() {
  cat requirements/*.txt setup.py package.xml CMakeLists.txt scripts/setup.sh scripts/build_msgs.sh \
      scripts/venv_activate_extra.sh msg/*.msg 2>/dev/null | sha256sum | cut -d' ' -f1
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

# Environment every shell and test of this project needs (DDS on loopback only, ROS prefix = venv).
bash scripts/venv_activate_extra.sh "$VENV"

if [ -x scripts/build_msgs.sh ] || [ -f scripts/build_msgs.sh ]; then
  VENV="$VENV" bash scripts/build_msgs.sh
fi
"${PIP[@]}" --no-deps -e .
echo "$HASH" > "$STAMP"
echo "setup: done in $((SECONDS - T0)) s"
