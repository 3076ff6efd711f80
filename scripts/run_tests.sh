#!/usr/bin/env bash
# The test command (README and .ci/run). Tests need the real models and photos: POSE_MODELS_DIR and
# POSE_TEST_IMAGES (default ../shared/data/...). Under CI=true a missing file fails instead of skipping.
# As root, the whole run happens in a private network namespace (only loopback exists), so no DDS or
# HTTP test traffic can leave the machine; test/conftest.py also pins DDS to loopback.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
cd "$ROOT"
export POSE_MODELS_DIR=${POSE_MODELS_DIR:-$ROOT/../shared/data/models}
export POSE_TEST_IMAGES=${POSE_TEST_IMAGES:-$ROOT/../shared/data/images}
export POSE_LABELLED_DIR=${POSE_LABELLED_DIR:-$ROOT/../shared/data/labelled}
# shellcheck disable=SC1091
. "$VENV/bin/activate"
# Arguments: pytest options and/or test paths (default: the whole test/ folder).
HAS_PATH=0
for a in "$@"; do case "$a" in test/*|test) HAS_PATH=1;; esac; done
if [ "$HAS_PATH" = 1 ]; then
  CMD=(python -m pytest -q -rs "$@")
else
  # The whole suite starts with the linter (pyproject.toml [tool.ruff]): a finding fails the run.
  ruff check --no-cache . || { echo "run_tests: ruff found problems (above); fix them or run 'ruff check --fix .'" >&2; exit 1; }
  CMD=(python -m pytest -q -rs "$@" test)
fi
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  exec unshare -n bash -c 'ip link set lo up && exec "$@"' _ "${CMD[@]}"
fi
exec "${CMD[@]}"
