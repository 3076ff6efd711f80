#!/usr/bin/env bash
# Benchmark of the imported models (docs/import.md): imports tf-pose mobilenet_v2_small into Keras (+ int8
# TFLite with float batch norms), exports TFLite fp32 / dynamic-range with pose_core.export, converts a
# Lightweight OpenPose checkpoint (random weights made with the test's PyTorch reference: timing only, its
# people counts mean nothing) and runs `pose bench` on all of them next to the original frozen graph.
#   bash benchmarks/imported_models.sh [--out bench/import] [--repeat 5]   -> bench/import/imported_models.md
# (the imported models land in the same folder; OUT=... / REPEAT=... in the environment work too)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-bench/import}
REPEAT=${REPEAT:-5}
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=${2:?--out needs a folder}; shift 2;;
    --repeat) REPEAT=${2:?--repeat needs a number}; shift 2;;
    *) echo "imported_models.sh: unknown argument $1 (--out DIR, --repeat N)" >&2; exit 2;;
  esac
done
export POSE_MODELS_DIR=${POSE_MODELS_DIR:-$ROOT/../shared/data/models}
export POSE_TEST_IMAGES=${POSE_TEST_IMAGES:-$ROOT/../shared/data/images}
PY=${PYTHON:-$ROOT/.venv/bin/python}
mkdir -p "$OUT"

"$PY" -m pose_core.cli import tfpose "$POSE_MODELS_DIR/tf-pose/mobilenet_v2_small/graph_opt.pb" \
  --out "$OUT/tfpose" --int8 "$POSE_TEST_IMAGES"
"$PY" - "$OUT" <<'PYEOF'
import sys
from pose_core.export import export_model
out = sys.argv[1]
export_model(f"{out}/tfpose/model.keras", f"{out}/tfpose_export", formats=["tflite_fp32", "tflite_dynamic"],
             input_size=(432, 368), name="tf-pose/mobilenet_v2_small-keras")
PYEOF
"$PY" - "$OUT" <<'PYEOF'
import sys
sys.path.insert(0, "test")
import torch
from torch_reference.lightweight_openpose import LightweightOpenPose, randomise
torch.save({"state_dict": randomise(LightweightOpenPose(1)).state_dict()}, f"{sys.argv[1]}/lw_random.pth")
PYEOF
"$PY" -m pose_core.cli import lwopenpose "$OUT/lw_random.pth" --out "$OUT/lwopenpose" --name lightweight-openpose/random-weights

MODELS="tf-pose/mobilenet_v2_small,$OUT/tfpose/model.yaml,$OUT/tfpose_export/model_tflite_fp32.yaml"
MODELS="$MODELS,$OUT/tfpose_export/model_tflite_dynamic.yaml,$OUT/tfpose/model_int8.yaml,$OUT/lwopenpose/model.yaml"
"$PY" -m pose_core.cli bench --models "$MODELS" --repeat "$REPEAT" --images "$POSE_TEST_IMAGES" --out "$OUT"
mv "$OUT/core.md" "$OUT/imported_models.md"            # pose bench names its table core.md
echo "table moved to $OUT/imported_models.md"
