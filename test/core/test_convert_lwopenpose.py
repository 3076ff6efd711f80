"""Lightweight OpenPose PyTorch checkpoints -> our Keras model: parity with a PyTorch reference (random
weights, eval mode, saved as real .pth files), loading without torch and without running pickled code,
and clear errors for mismatched, malicious and truncated checkpoints."""
import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from pose_core.convert.lwopenpose import convert_lwopenpose_checkpoint
from pose_core.convert.torch_checkpoint import find_state_dict, load_checkpoint
from pose_core.errors import CheckpointError
from pose_core.models import inference_model

from conftest import ROOT
from torch_reference.lightweight_openpose import LightweightOpenPose, randomise

INPUT_HW = (96, 128)


def _reference(stages: int, seed: int = 0) -> LightweightOpenPose:
    torch.manual_seed(seed)
    return randomise(LightweightOpenPose(num_refinement_stages=stages), seed=seed)


def _training_checkpoint(model) -> dict:
    """What the authors' training script saves: weights plus optimizer/scheduler state."""
    optimizer = torch.optim.Adam(model.parameters(), lr=4e-5)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[100, 200], gamma=0.333)
    return {"state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "iter": 370000, "current_epoch": 4}


def _torch_outputs(model, rgb: np.ndarray) -> list[np.ndarray]:
    bgr = rgb[..., ::-1]
    x = torch.from_numpy(np.ascontiguousarray(((bgr - 128.0) / 256.0).transpose(0, 3, 1, 2)))
    with torch.no_grad():
        return [o.numpy().transpose(0, 2, 3, 1) for o in model(x.float())]


@pytest.fixture(scope="module")
def rgb_input():
    return np.random.default_rng(7).uniform(0, 255, (1, *INPUT_HW, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """stages -> (reference model, zip .pth path)."""
    out = {}
    for stages in (1, 3):
        model = _reference(stages, seed=stages)
        path = tmp_path_factory.mktemp("ckpt") / f"lwopenpose_{stages}.pth"
        torch.save(_training_checkpoint(model), path)
        out[stages] = (model, path)
    return out


@pytest.mark.parametrize("stages", [1, 3])
def test_converted_model_equals_pytorch_reference(checkpoints, rgb_input, stages):
    reference, path = checkpoints[stages]
    expected = _torch_outputs(reference, rgb_input)
    model = convert_lwopenpose_checkpoint(path)
    got = model(rgb_input)
    assert len(got) == 2 * (stages + 1)
    for s in range(stages + 1):
        for i, kind in enumerate(("heatmaps", "pafs")):
            ours = np.asarray(got[f"stage{s + 1}_{kind}"])
            theirs = expected[2 * s + i]
            assert ours.shape == theirs.shape
            assert np.abs(theirs).max() > 0.05          # the comparison is not between near-zero maps
            assert np.max(np.abs(ours - theirs)) < 1e-4, f"stage {s + 1} {kind}"
    # The inference view feeds PafCodec: last stage's [heatmaps 19, PAFs 38].
    last = np.asarray(inference_model(model)(rgb_input))
    assert np.max(np.abs(last - np.concatenate(expected[-2:], axis=-1))) < 1e-4


def test_legacy_format_and_module_prefix_load_identically(tmp_path, checkpoints):
    reference, zip_path = checkpoints[1]
    legacy = tmp_path / "legacy.pth"
    state = {f"module.{k}": v for k, v in reference.state_dict().items()}   # DataParallel-saved
    torch.save({"state_dict": state}, legacy, _use_new_zipfile_serialization=False)
    a = find_state_dict(load_checkpoint(zip_path))
    b = find_state_dict(load_checkpoint(legacy))
    assert set(a) == set(b) == set(reference.state_dict())
    for key, tensor in reference.state_dict().items():
        assert np.array_equal(a[key], tensor.numpy()) and np.array_equal(b[key], tensor.numpy()), key


def test_legacy_checkpoint_saved_from_gpu_loads(tmp_path, checkpoints):
    """Older releases were saved from CUDA tensors: their legacy pickle names torch.cuda.FloatStorage and
    location cuda:0. Built here from a CPU save (this machine has no GPU) by patching exactly those bytes."""
    reference, _ = checkpoints[1]
    buf = io.BytesIO()
    torch.save({"state_dict": reference.state_dict()}, buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    assert data.count(b"ctorch\nFloatStorage\n") >= 1
    data = data.replace(b"ctorch\nFloatStorage\n", b"ctorch.cuda\nFloatStorage\n")
    data = data.replace(b"ctorch\nLongStorage\n", b"ctorch.cuda\nLongStorage\n")
    data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
    path = tmp_path / "gpu_legacy.pth"
    path.write_bytes(data)
    state = find_state_dict(load_checkpoint(path))
    for key, tensor in reference.state_dict().items():
        assert np.array_equal(state[key], tensor.numpy()), key


def test_converter_works_without_torch(checkpoints, tmp_path):
    """torch is a test dependency only: convert in a process where importing torch fails."""
    _, path = checkpoints[1]
    code = ("import sys; sys.modules['torch'] = None\n"
            "from pose_core.cli import main\n"
            f"sys.exit(main(['import', 'lwopenpose', {str(path)!r}, '--out', {str(tmp_path / 'out')!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "out" / "model.keras").is_file() and (tmp_path / "out" / "model.yaml").is_file()


def test_imported_model_runs_in_the_estimator(checkpoints, tmp_path, images_dir):
    from pose_core.cli import main
    from pose_core.estimator import PoseEstimator
    from pose_core.image_io import read_image

    reference, path = checkpoints[1]
    assert main(["import", "lwopenpose", str(path), "--out", str(tmp_path / "lw")]) == 0
    est = PoseEstimator.from_file(tmp_path / "lw")
    assert est.runtime.kind == "keras" and est.layout.name == "openpose18"
    photo = read_image(images_dir / "p1.jpg")
    people, timing = est.estimate(photo, return_timing=True)
    assert timing["total"] > 0
    # Random weights find no real people (people on real Lightweight OpenPose weights: test_convert_openvino,
    # OMZ's release of this network). What can be asserted: the same network input through the imported
    # model and through the PyTorch reference decodes to the same people, with the PAF decoder's thresholds
    # opened up so that random maps give some (the estimator's own thresholds give none on them).
    from pose_core.codecs.paf import PafCodec
    tensor, _ = est.preprocessor(photo)
    ref_maps = np.concatenate(_torch_outputs(reference, tensor[None].astype(np.float32))[-2:], axis=-1)[0]
    our_maps = est.runtime(tensor[None])[0][0]
    permissive = PafCodec(est.layout, stride=8, heatmap_channels=19, paf_offset=19,
                          peak_threshold=float(np.percentile(ref_maps[..., :18], 98)), paf_score_threshold=-1.0,
                          min_paf_fraction=0.0, min_parts=2, min_person_score=-1e9)
    size = (tensor.shape[1], tensor.shape[0])
    ref_people, ours = permissive.decode([ref_maps], size), permissive.decode([our_maps], size)
    assert len(ref_people) >= 1 and len(ours) == len(ref_people)
    for a, b in zip(ours, ref_people):
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=0.05)
    # The saved model computes the same maps as the PyTorch reference.
    rgb = np.random.default_rng(3).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    maps = est.runtime(rgb)[0]
    assert np.max(np.abs(maps - np.concatenate(_torch_outputs(reference, rgb)[-2:], axis=-1))) < 1e-4


def test_wrong_shape_names_the_layer_and_both_shapes(tmp_path):
    state = _reference(1).state_dict()
    state["cpm.conv.0.weight"] = torch.zeros(128, 64, 3, 3)
    path = tmp_path / "bad_shape.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError, match=r"layer cpm\.conv\.0: checkpoint cpm\.conv\.0\.weight has shape "
                                              r"\(128, 64, 3, 3\), the architecture expects \(128, 128, 3, 3\)"):
        convert_lwopenpose_checkpoint(path)


def test_missing_and_extra_tensors_are_named(tmp_path):
    state = _reference(1).state_dict()
    del state["refinement_stages.0.trunk.2.trunk.1.1.running_var"]
    path = tmp_path / "missing.pth"
    torch.save(state, path)                      # a bare state_dict works too
    with pytest.raises(CheckpointError, match=r"refinement_stages\.0\.trunk\.2\.trunk\.1\.1\.running_var"):
        convert_lwopenpose_checkpoint(path)
    state = _reference(1).state_dict()
    state["extra_head.weight"] = torch.zeros(3, 3)
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"extra_head\.weight \(3, 3\) has no layer"):
        convert_lwopenpose_checkpoint(path)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    # A real torch zip checkpoint whose data.pkl also carries an os.system call.
    path = tmp_path / "malicious.pth"
    torch.save({"state_dict": _reference(1).state_dict(), "evil": _RunsCode(marker)}, path)
    with pytest.raises(CheckpointError, match=r"refused.*(posix|os)\.system"):
        convert_lwopenpose_checkpoint(path)
    # The same as a legacy-format stream.
    legacy = tmp_path / "malicious_legacy.pth"
    torch.save({"evil": _RunsCode(marker)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(legacy)
    # A plain pickle of a callable that builtins would import.
    plain = tmp_path / "plain.pth"
    plain.write_bytes(pickle.dumps(_RunsCode(marker), protocol=2))
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(plain)
    assert not marker.exists()


def test_a_file_cannot_change_how_the_next_one_loads(tmp_path, checkpoints):
    """BUILD on an allowed global (here torch.FloatStorage) must not alter a shared object."""
    evil = tmp_path / "build.pth"
    # PROTO 2; GLOBAL torch.FloatStorage; {"dtype": "O"}; BUILD; STOP
    evil.write_bytes(b"\x80\x02ctorch\nFloatStorage\n}X\x05\x00\x00\x00dtypeX\x01\x00\x00\x00Osb.")
    with pytest.raises(CheckpointError):
        load_checkpoint(evil)
    reference, path = checkpoints[1]
    state = find_state_dict(load_checkpoint(path))
    assert state["model.0.0.weight"].dtype == np.float32
    assert np.array_equal(state["model.0.0.weight"], reference.state_dict()["model.0.0.weight"].numpy())


def test_truncated_checkpoints_are_checkpoint_errors(tmp_path, checkpoints):
    _, path = checkpoints[1]
    data = path.read_bytes()
    for n in (len(data) // 2, len(data) - 100, 200):
        cut = tmp_path / f"cut_{n}.pth"
        cut.write_bytes(data[:n])
        with pytest.raises(CheckpointError):
            load_checkpoint(cut)
    # A zip whose tensor records were dropped (central directory intact).
    partial = tmp_path / "partial.pth"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(partial, "w") as dst:
        for item in src.infolist():
            if "/data/" not in item.filename or item.filename.endswith("/data/0"):
                dst.writestr(item, src.read(item.filename))
    with pytest.raises(CheckpointError, match="truncated: tensor record .* is missing"):
        load_checkpoint(partial)
    legacy = tmp_path / "legacy.pth"
    buf = io.BytesIO()
    torch.save(_reference(1).state_dict(), buf, _use_new_zipfile_serialization=False)
    legacy.write_bytes(buf.getvalue()[:-1000])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(legacy)


def test_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_text("hello")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(junk)
    empty_zip = tmp_path / "empty.pth"
    with zipfile.ZipFile(empty_zip, "w") as z:
        z.writestr("readme.txt", "x")
    with pytest.raises(CheckpointError, match="data.pkl"):
        load_checkpoint(empty_zip)


def test_cli_reports_bad_checkpoint_in_one_line(tmp_path, capsys):
    from pose_core.cli import main
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"PK\x03\x04 truncated")
    assert main(["import", "lwopenpose", str(junk), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pose import: error:") and "junk.pth" in err[0]
