"""pose_node as a lifecycle node, driven from this (separate) process through its lifecycle services, as a
lifecycle manager would: autostart off -> unconfigured, no frames taken; transitions in the wrong order are
refused with the reason while the node keeps serving; configure loads the model, activate serves frames,
deactivate stops taking them, cleanup frees the model, a failed configure leaves it unconfigured and
usable. The `~/enable` service pauses and resumes inference without reloading; `max_rate` caps it.

One node process for the module; tests run in file order."""
from __future__ import annotations

import os
import time

import cv2
import pytest

rclpy = pytest.importorskip("rclpy")
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from std_srvs.srv import SetBool  # noqa: E402

from conftest import ROOT, require  # noqa: E402
from ros_graph import GraphClient, start_node, stop  # noqa: E402

CONFIG = ROOT / "config"


class Manager:
    """Calls the node's lifecycle and enable services (what nav2's lifecycle manager or `ros2 lifecycle` do)."""

    def __init__(self, client: GraphClient, node_name: str = "pose_node"):
        node = client.node
        self.change = node.create_client(ChangeState, f"/{node_name}/change_state")
        self.get = node.create_client(GetState, f"/{node_name}/get_state")
        self.enable_client = node.create_client(SetBool, f"/{node_name}/enable")

    @staticmethod
    def call(client, request, timeout: float = 120.0):
        assert client.wait_for_service(timeout_sec=30.0), f"service {client.srv_name} not available"
        future = client.call_async(request)
        end = time.monotonic() + timeout
        while not future.done():
            assert time.monotonic() < end, f"no answer from {client.srv_name}"
            time.sleep(0.02)
        return future.result()

    def state(self) -> str:
        return self.call(self.get, GetState.Request()).current_state.label

    def transition(self, transition_id: int) -> bool:
        return self.call(self.change, ChangeState.Request(transition=Transition(id=transition_id))).success

    def enable(self, on: bool) -> SetBool.Response:
        return self.call(self.enable_client, SetBool.Request(data=on))


@pytest.fixture(scope="module")
def managed(models_dir, tmp_path_factory):
    os.environ["POSE_MODELS_DIR"] = str(models_dir)
    log = tmp_path_factory.mktemp("lifecycle") / "pose_node.log"
    proc = start_node([CONFIG / "pose_node.yaml"], {"autostart": False}, log_path=log)
    client = GraphClient("lifecycle_test")
    try:
        yield proc, client, Manager(client), log
    finally:
        client.close()
        stop(proc)


@pytest.fixture(scope="module")
def photo(images_dir):
    return cv2.imread(str(require(images_dir / "p1.jpg", "test photo")))


def wait_until(predicate, what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, what
        time.sleep(0.05)


def test_autostart_off_waits_unconfigured_and_takes_no_frames(managed):
    proc, client, manager, log = managed
    assert manager.state() == "unconfigured"
    assert proc.poll() is None
    assert client.pub_image.get_subscription_count() == 0 and client.node.count_publishers("poses") == 0
    assert "autostart is off" in log.read_text() and "loading model" not in log.read_text()


def test_transitions_in_the_wrong_order_are_refused_with_the_reason_and_the_node_keeps_serving(managed):
    proc, client, manager, log = managed
    assert manager.transition(Transition.TRANSITION_ACTIVATE) is False
    assert manager.transition(Transition.TRANSITION_CLEANUP) is False
    assert manager.state() == "unconfigured" and proc.poll() is None
    refusals = [line for line in log.read_text().splitlines() if "Unable to start transition" in line]
    assert len(refusals) == 2 and all("unconfigured" in line for line in refusals), log.read_text()[-2000:]


def test_configure_loads_the_model_and_activate_serves_frames(managed, photo):
    proc, client, manager, log = managed
    assert manager.transition(Transition.TRANSITION_CONFIGURE) is True
    assert manager.state() == "inactive"
    assert "model ready" in log.read_text()
    wait_until(lambda: client.node.count_publishers("poses") == 1, "no poses publisher after configure")
    assert client.pub_image.get_subscription_count() == 0            # inactive: no frames taken
    assert manager.transition(Transition.TRANSITION_CONFIGURE) is False   # already configured
    assert manager.transition(Transition.TRANSITION_ACTIVATE) is True
    assert manager.state() == "active"
    client.wait_connected(60, proc)
    result = client.warm_up(photo, proc=proc)
    assert result.header.frame_id == "warm_up" and len(result.persons) >= 1


def test_enable_false_pauses_inference_without_unloading_and_true_resumes(managed, photo):
    proc, client, manager, log = managed
    paused = manager.enable(False)
    assert paused.success and "paused" in paused.message
    assert client.wait_for(lambda: client.latest_diagnostics().get("enabled") == "false", 30)
    before = int(client.latest_diagnostics()["frames_processed"])
    for i in range(3):
        client.publish(client.image_msg(photo, time.time(), f"paused_{i}"))
        time.sleep(0.1)
    assert client.wait_for(lambda: int(client.latest_diagnostics().get("frames_paused", "0")) >= 3, 30)
    assert int(client.latest_diagnostics()["frames_processed"]) == before
    assert not any(m.header.frame_id.startswith("paused_") for _, m in client.poses)
    resumed = manager.enable(True)
    assert resumed.success and "resumed" in resumed.message
    result = client.request(client.image_msg(photo, time.time(), "resumed"))
    assert result is not None and result.header.frame_id == "resumed"
    assert log.read_text().count("loading model") == 1                # resumed without a reload


def test_max_rate_spaces_inferences_at_least_one_period_apart(managed, photo):
    proc, client, manager, log = managed
    assert all(r.successful for r in client.set_parameters(max_rate=2.0))
    t0 = time.time()
    for i in range(30):                                      # a ~20 Hz camera for 1.5 s, stamped when sent
        client.publish(client.image_msg(photo, time.time(), f"rated_{i}"))
        time.sleep(0.05)
    assert client.wait_for(lambda: any(m.header.frame_id == "rated_29" for _, m in client.poses), 15)
    arrivals = sorted(t for t, m in client.poses if m.header.frame_id.startswith("rated_"))
    assert len(arrivals) >= 2, arrivals
    # At 2 Hz inferences start >= 0.5 s apart, each on the newest frame, so between the first frame sent and
    # the last result at most 2 per second (+1) can exist; uncapped, results come one inference time (~0.05 s)
    # apart. Counted over the whole span, not per gap: a loaded machine delays deliveries, never adds starts.
    span = arrivals[-1] - t0
    assert len(arrivals) <= 2.0 * span + 1, (len(arrivals), span)
    assert int(client.latest_diagnostics().get("frames_dropped", "0")) > 0
    assert all(r.successful for r in client.set_parameters(max_rate=0.0))


def test_deactivate_stops_taking_frames_and_cleanup_frees_the_model(managed):
    proc, client, manager, log = managed
    assert manager.transition(Transition.TRANSITION_DEACTIVATE) is True
    assert manager.state() == "inactive"
    wait_until(lambda: client.pub_image.get_subscription_count() == 0, "still subscribed after deactivate")
    assert manager.transition(Transition.TRANSITION_CLEANUP) is True
    assert manager.state() == "unconfigured"
    wait_until(lambda: client.node.count_publishers("poses") == 0, "poses publisher left after cleanup")
    assert "model freed" in log.read_text()


def test_failed_configure_stays_unconfigured_and_a_good_one_serves_again(managed, photo, tmp_path):
    proc, client, manager, log = managed
    missing = tmp_path / "no_model" / "model.yaml"
    assert all(r.successful for r in client.set_parameters(model=str(missing)))
    assert manager.transition(Transition.TRANSITION_CONFIGURE) is False
    assert manager.state() == "unconfigured" and proc.poll() is None
    failed = [line for line in log.read_text().splitlines() if "configure failed" in line]
    assert len(failed) == 1 and "no_model" in failed[0], log.read_text()[-2000:]
    from pose_core.defaults import DEFAULT_MODEL
    assert all(r.successful for r in client.set_parameters(model=DEFAULT_MODEL))
    assert manager.transition(Transition.TRANSITION_CONFIGURE) is True
    assert manager.transition(Transition.TRANSITION_ACTIVATE) is True
    client.wait_connected(60, proc)
    assert client.warm_up(photo, proc=proc).persons
