"""Shared test fixtures: real model files and photos from POSE_MODELS_DIR / POSE_TEST_IMAGES, and a
loopback-only ROS environment for every test process (set before anything imports rclpy)."""
from __future__ import annotations

import importlib.util
import os
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# DDS must never leave this machine: loopback-only Fast DDS profile, LOCALHOST discovery, a random domain.
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "dds" / "fastdds_loopback.xml"))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
os.environ.setdefault("ROS_LOG_DIR", str(ROOT / ".venv" / "ros_log"))

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# The only skips allowed under CI=true: a skip reason must start with one of these keys. Each value says why
# the test cannot run on a CI machine (a clean clone, no GPU, registries only). Any other skip - a missing
# package (`importorskip`), a missing data file, a missing tool - fails the run there.
ALLOWED_CI_SKIPS = {
    "needs a GPU": "CI machines have no GPU (the GPU paths run on a robot's Jetson/desktop GPU)",
    "needs a GPU-less machine": "the CPU-fallback checks cannot happen where a GPU is visible (GPU machines)",
    "needs TensorRT": "TensorRT ships with NVIDIA's GPU stack only; CI machines have no GPU",
    "launch_ros is not installed": "ROS launch (launch, launch_ros) is on no registry reachable from CI; "
                                   "it comes with a ROS distribution's apt packages",
}


def allowed_ci_skip(reason: str) -> bool:
    return any(reason.startswith(key) for key in ALLOWED_CI_SKIPS)


def _skip_reason(longrepr) -> str:
    """A skip report's reason: pytest stores (path, line, "Skipped: reason") for skips."""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail_disallowed_skip(report) -> None:
    if not (IN_CI and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report.longrepr)
    if not allowed_ci_skip(reason):
        report.outcome = "failed"
        report.longrepr = (f"skipped under CI=true, which allows only the skips in test/conftest.py "
                           f"ALLOWED_CI_SKIPS: {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_disallowed_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """Module-level skips (`pytest.importorskip` at import time) are collection reports."""
    outcome = yield
    _fail_disallowed_skip(outcome.get_result())


def require(path: Path, what: str) -> Path:
    """Return `path` if it exists; otherwise skip (outside CI) or fail (CI=true) naming what is missing."""
    if path.exists():
        return path
    msg = f"{what} not found: {path} (set POSE_MODELS_DIR / POSE_TEST_IMAGES)"
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return require(Path(os.environ.get("POSE_MODELS_DIR", ROOT.parent / "shared/data/models")),
                   "models directory")


@pytest.fixture(scope="session")
def images_dir() -> Path:
    return require(Path(os.environ.get("POSE_TEST_IMAGES", ROOT.parent / "shared/data/images")),
                   "test images directory")


@pytest.fixture(scope="session")
def labelled_dir() -> Path:
    """Real photos with human keypoint labels (dev_coco17.json + images/): POSE_LABELLED_DIR."""
    return require(Path(os.environ.get("POSE_LABELLED_DIR", ROOT.parent / "shared/data/labelled")),
                   "labelled development set")


PERSON_PHOTOS = ("p1.jpg", "p2.jpg", "p3.jpg", "apink1.jpg", "golf.jpg", "hand1.jpg")


def benchmark_module(name: str):
    """benchmarks/<name>.py imported as a module: benchmarks/ is a folder of scripts, not an installed package."""
    if name in sys.modules:
        return sys.modules[name]
    if str(ROOT / "benchmarks") not in sys.path:       # as when run as a script: its neighbours import
        sys.path.append(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # registered first: dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module
