# Newcomer entry points. `make demo` and `make test` set up the venv on first use (scripts/setup.sh).
VENV ?= .venv
PY := $(VENV)/bin/python
export POSE_MODELS_DIR ?= $(abspath ../shared/data/models)
export POSE_TEST_IMAGES ?= $(abspath ../shared/data/images)
export POSE_LABELLED_DIR ?= $(abspath ../shared/data/labelled)

.PHONY: setup test demo bench
setup:
	@VENV=$(VENV) bash scripts/setup.sh

test: setup
	@bash scripts/run_tests.sh

demo: setup
	@bash scripts/demo.sh

bench: setup
	@$(VENV)/bin/pose bench --out bench
