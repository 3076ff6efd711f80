#!/usr/bin/env bash
# The main job: the source node publishes sample input (the photos in POSE_TEST_IMAGES, or a video / image
# folder given as $1) on a real ROS 2 graph, the pose node runs the default model on it, and a listener
# prints one line per frame (people count, latency) and writes the annotated images to $OUT.
#   make demo                      or   bash scripts/demo.sh [INPUT] [OUT]
#   RATE=2 (frames/s)   MODEL=<zoo name> (default: pose_core/defaults.py)   MAX_FRAMES=0 (all)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
cd "$ROOT"
[ -x "$VENV/bin/pose_node" ] || VENV="$VENV" bash scripts/setup.sh
# Before activating: the venv's activate keeps a POSE_MODELS_DIR that is already set.
export POSE_MODELS_DIR=${POSE_MODELS_DIR:-$ROOT/../shared/data/models}
# shellcheck disable=SC1091
. "$VENV/bin/activate"

INPUT=${1:-${POSE_TEST_IMAGES:-$ROOT/../shared/data/images}}
OUT=${2:-${OUT:-$ROOT/out/demo}}       # out/ is git-ignored
RATE=$(python3 -c "import sys; print(float(sys.argv[1]))" "${RATE:-2}")   # a ROS double parameter
MAX_FRAMES=${MAX_FRAMES:-0}
[ -e "$INPUT" ] || { echo "demo: input not found: $INPUT (set POSE_TEST_IMAGES or pass a folder/video)" >&2; exit 1; }

# A private DDS graph: loopback-only profile, local discovery, a random domain; logs under $OUT.
export FASTDDS_DEFAULT_PROFILES_FILE="$ROOT/config/dds/fastdds_loopback.xml"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$((RANDOM % 100 + 1))}
mkdir -p "$OUT"
rm -f "$OUT"/frame_*.jpg    # this run's frames only
export ROS_LOG_DIR="$OUT/ros_log"

MODEL=${MODEL:-$(python -c 'from pose_core.defaults import DEFAULT_MODEL; print(DEFAULT_MODEL)')}
PARAMS=(--params-file config/pose_node.yaml)
MODEL_FILE="config/${MODEL//\//_}.yaml"
[ -f "$MODEL_FILE" ] && PARAMS+=(--params-file "$MODEL_FILE")
echo "demo: model $MODEL, input $INPUT, $RATE frames/s, output $OUT"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

pose_node --ros-args "${PARAMS[@]}" -p model:="$MODEL" >"$OUT/pose_node.log" 2>&1 &
NODE=$!; PIDS+=("$NODE")
# The listener stops once results stop coming: a few frame periods after the source's last frame.
IDLE=$(python3 -c "import sys; print(max(3.0, 3.0 / float(sys.argv[1])))" "$RATE")
READY="$OUT/.listener_ready"
rm -f "$READY"
python scripts/demo_listener.py --out "$OUT" --idle "$IDLE" --startup 180 --ready-file "$READY" &
LISTENER=$!; PIDS+=("$LISTENER")
# The source starts once the listener sees the pose node's outputs (else the first results can be lost).
for _ in $(seq 1800); do
  [ -e "$READY" ] && break
  kill -0 "$NODE" 2>/dev/null || break
  sleep 0.1
done
# The source waits for the pose node's subscription (i.e. the model is loaded) before its first frame.
pose_source --ros-args -p source:="$INPUT" -p rate:="$RATE" -p max_frames:="$MAX_FRAMES" \
  -p wait_subscribers:=1 -p frame_id:=camera_optical >"$OUT/pose_source.log" 2>&1 &
SOURCE=$!; PIDS+=("$SOURCE")

STATUS=0
if ! wait "$SOURCE"; then
  echo "demo: the source node failed:" >&2; grep -E "FATAL|ERROR" "$OUT/pose_source.log" | tail -3 >&2; exit 1
fi
wait "$LISTENER" || STATUS=$?
if ! kill -0 "$NODE" 2>/dev/null; then
  echo "demo: the pose node stopped:" >&2; grep -E "FATAL|ERROR" "$OUT/pose_node.log" | tail -3 >&2; STATUS=1
fi
exit $STATUS
