#!/usr/bin/env bash
# Build the two ROS packages into the venv, which is the ROS prefix here (ROS 2 wheels from PyPI), with the
# pip-installed ament_cmake + rosidl through plain cmake (what colcon does on a ROS install, docs/ros.md):
#   pose_msgs  the messages: `pose_msgs.msg` into site-packages, typesupport libraries into <venv>/lib
#   pose_ros   with POSE_ROS_INSTALL_PYTHON=OFF: the ament index entry, lib/pose_ros/<executables> and
#              share/pose_ros/{launch,config}, so `ros2 run` / `ros2 launch` find them (pip installs the
#              Python code itself in editable mode); symlinks into the checkout, like the editable install
#   VENV=path (default .venv)   FORCE=1 rebuilds even when nothing changed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
VENV=$(cd "$VENV" && pwd)
BUILD="$VENV/build"
STAMP="$BUILD/.pose_ros_packages_sha256"
PY="$VENV/bin/python"
cd "$ROOT"

# Inputs: both packages' build files, the messages, launch/config, and the ROS wheels they are built with.
HASH=$(cat pose_msgs/msg/*.msg pose_msgs/CMakeLists.txt pose_msgs/package.xml pose_ros/CMakeLists.txt \
  pose_ros/package.xml launch/* config/*.* config/dds/* scripts/build_msgs.sh requirements/ros.txt \
  | sha256sum | cut -d' ' -f1)
if [ "${FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ] \
   && [ -f "$VENV/share/pose_msgs/package.xml" ] && [ -x "$VENV/lib/pose_ros/pose_node" ]; then
  echo "build_msgs: pose_msgs and pose_ros up to date"
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

# The earlier one-package layout (messages inside pose_ros, generated Python under lib/pose_ros/generated_py):
# remove what it installed so no stale `pose_ros` message libraries stay on the library path.
OLD="$BUILD/pose_ros_msgs"
if [ -f "$OLD/install_manifest.txt" ]; then
  xargs -d '\n' rm -f <"$OLD/install_manifest.txt"
  rm -rf "$OLD" "$VENV/lib/pose_ros/generated_py" "$VENV/share/pose_ros"
fi

GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
build() {  # $1 = package folder; rest = extra cmake options
  local src="$ROOT/$1" dir="$BUILD/$1"; shift
  mkdir -p "$dir"
  local log="$dir/build.log"
  : >"$log"
  run() { "$@" >>"$log" 2>&1 || { echo "build_msgs: FAILED: $*"; tail -40 "$log"; exit 1; }; }
  run cmake -S "$src" -B "$dir" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$PY" "$@"
  run cmake --build "$dir" -j2
  (cd "$dir" && run cmake --install .)   # from the build dir: symlink installs write their manifest to cwd
}
build pose_msgs
# Symlinked like the editable Python install: edits to launch/ and config/ show up without a rebuild.
build pose_ros -DPOSE_ROS_INSTALL_PYTHON=OFF -DAMENT_CMAKE_SYMLINK_INSTALL=ON
"$PY" -c 'from pose_msgs.msg import PersonArray; from rclpy.serialization import serialize_message as s
assert len(s(PersonArray())) > 0' || { echo "build_msgs: pose_msgs built but does not import"; exit 1; }
echo "$HASH" >"$STAMP"
echo "build_msgs: pose_msgs + pose_ros built and installed into $VENV in $((SECONDS - T0)) s"
