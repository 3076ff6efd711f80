"""Shared test fixtures: real model files and photos from POSE_MODELS_DIR / POSE_TEST_IMAGES, and a
loopback-only ROS environment for every test process (set before anything imports rclpy)."""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# DDS must never leave this machine: loopback-only Fast DDS profile, LOCALHOST discovery, a random domain.
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "dds" / "fastdds_loopback.xml"))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
os.environ.setdefault("ROS_LOG_DIR", str(ROOT / ".venv" / "ros_log"))

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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
