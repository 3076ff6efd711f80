#!/usr/bin/env bash
# Build the pose_ros messages (msg/*.msg) with rosidl through plain cmake and install them into the venv,
# which is the ROS prefix here (ROS 2 wheels from PyPI). On a real ROS install use colcon instead
# (docs/ros.md); CMakeLists.txt and package.xml are the same.
#
# The generated Python (`pose_ros.msg` + typesupport extensions) goes to $VENV/lib/pose_ros/generated_py,
# NOT site-packages: the editable `pose_ros` package finds it there (see pose_ros/__init__.py), so the
# generated package never shadows ours.
#   VENV=path (default .venv)   FORCE=1 rebuilds even when nothing changed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
VENV=$(cd "$VENV" && pwd)
BUILD="$VENV/build/pose_ros_msgs"
STAMP="$BUILD/.inputs_sha256"
PY="$VENV/bin/python"
cd "$ROOT"

# Inputs: the messages, the build files and the ROS wheels they are generated with.
HASH=$(cat msg/*.msg CMakeLists.txt package.xml scripts/build_msgs.sh requirements/ros.txt | sha256sum | cut -d' ' -f1)
if [ "${FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ] \
   && [ -d "$VENV/lib/pose_ros/generated_py/pose_ros/msg" ]; then
  echo "build_msgs: messages up to date"
  exit 0
fi
T0=$SECONDS
export AMENT_PREFIX_PATH="$VENV"   # rosidl finds its typesupports through the ament index (configure AND build)

# Workaround: the wheels' *rosidl_generator_pyExport.cmake name the include dirs of the machine that built
# them (/opt/python/cpXY-cpXY/...); CMake rejects non-existent include dirs. Point them at this venv.
PYINC=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NPINC=$("$PY" -c 'import numpy; print(numpy.get_include())')
read -r PYV PYDOT < <("$PY" -c 'import sys; v = sys.version_info; print(f"{v[0]}{v[1]} {v[0]}.{v[1]}")')
for f in "$VENV"/share/*/cmake/*rosidl_generator_pyExport.cmake; do
  grep -q "/opt/python/cp${PYV}" "$f" || continue
  sed -i "s#/opt/python/cp${PYV}-cp${PYV}/include/python${PYDOT}#${PYINC}#g; \
s#/opt/python/cp${PYV}-cp${PYV}/lib/python${PYDOT}/site-packages/numpy/_core/include#${NPINC}#g" "$f"
done

GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
mkdir -p "$BUILD"
LOG="$BUILD/build.log"
run() { "$@" >>"$LOG" 2>&1 || { echo "build_msgs: FAILED: $*"; tail -40 "$LOG"; exit 1; }; }
: >"$LOG"
run cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
  -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$PY" \
  -DPYTHON_INSTALL_DIR=lib/pose_ros/generated_py -DPOSE_ROS_INSTALL_PYTHON=OFF
run cmake --build "$BUILD" -j2
run cmake --install "$BUILD"
"$PY" -c 'from pose_ros.msg import PersonArray; from rclpy.serialization import serialize_message as s
assert len(s(PersonArray())) > 0' 2>/dev/null \
  || echo "build_msgs: built; 'import pose_ros.msg' works once pose_ros is installed (pip install -e .)"
echo "$HASH" >"$STAMP"
echo "build_msgs: messages built and installed into $VENV in $((SECONDS - T0)) s"
