#!/usr/bin/env bash
# Pose node latency benchmark on a private loopback-only DDS graph; writes bench/node_latency.md (--out DIR:
# DIR/node_latency.md; see benchmarks/node_latency.py).
#   bash benchmarks/node_latency.sh [--models tf-pose/mobilenet_v2_small movenet/multipose-lightning] [--seconds 10]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
cd "$ROOT"
# Before activating: the venv's activate keeps a POSE_MODELS_DIR that is already set.
export POSE_MODELS_DIR=${POSE_MODELS_DIR:-$ROOT/../shared/data/models}
export POSE_TEST_IMAGES=${POSE_TEST_IMAGES:-$ROOT/../shared/data/images}
# shellcheck disable=SC1091
. "$VENV/bin/activate"
export FASTDDS_DEFAULT_PROFILES_FILE="$ROOT/config/dds/fastdds_loopback.xml"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$((RANDOM % 100 + 1))}
export ROS_LOG_DIR=${ROS_LOG_DIR:-$VENV/ros_log}
CMD=(python "$ROOT/benchmarks/node_latency.py" "$@")
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  exec unshare -n bash -c 'ip link set lo up && exec "$@"' _ "${CMD[@]}"
fi
exec "${CMD[@]}"
