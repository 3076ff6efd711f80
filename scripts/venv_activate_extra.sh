#!/usr/bin/env bash
# Appends the project's environment to the venv's activate script (idempotent): the venv is a ROS prefix,
# DDS stays on loopback, ROS logs stay inside the venv. Tests set the same in test/conftest.py.
# Activating after sourcing /opt/ros/<distro> or a colcon overlay keeps them: the venv is PREPENDED to
# AMENT_PREFIX_PATH (once), and values the user already exported (POSE_MODELS_DIR, ROS_LOG_DIR, the Fast DDS
# profile) are kept.
set -euo pipefail
VENV=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ACT="$VENV/bin/activate"
MARK="# >>> pose_ros environment >>>"
sed -i "/^$MARK\$/,/^# <<< pose_ros environment <<<\$/d" "$ACT"
cat >> "$ACT" <<EOT
$MARK
case ":\${AMENT_PREFIX_PATH:-}:" in
  *":\$VIRTUAL_ENV:"*) ;;
  *) export AMENT_PREFIX_PATH="\$VIRTUAL_ENV\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}" ;;
esac
export ROS_LOG_DIR="\${ROS_LOG_DIR:-\$VIRTUAL_ENV/ros_log}"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export FASTDDS_DEFAULT_PROFILES_FILE="\${FASTDDS_DEFAULT_PROFILES_FILE:-$ROOT/config/dds/fastdds_loopback.xml}"
export POSE_MODELS_DIR="\${POSE_MODELS_DIR:-\$HOME/.cache/pose_ros/models}"
# <<< pose_ros environment <<<
EOT
