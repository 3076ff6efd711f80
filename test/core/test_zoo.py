"""Model zoo: entries, file resolution, sha256 verification, and downloads from a local HTTP server."""
import hashlib
import http.server
import threading
from functools import partial

import pytest

from pose_core import download, zoo
from pose_core.errors import ChecksumError, ModelFileMissingError, UnknownModelError

SEED_MODELS = ("tf-pose/mobilenet_v2_small", "pose-mobile/cpm", "pose-mobile/hourglass")


def test_seed_models_are_in_the_zoo_with_sources_and_checksums():
    entries = zoo.list_models()
    for name in SEED_MODELS:
        spec = entries[name]
        assert spec.licence and spec.source
        for f in spec.files.values():
            assert f.url.startswith("https://") and len(f.sha256) == 64


@pytest.mark.parametrize("name", SEED_MODELS)
def test_shared_model_files_match_their_checksums(models_dir, name):
    spec = zoo.get_spec(name)
    for kind in spec.files:
        _, path = zoo.resolve(spec, kind, models_dir, verify=True)
        assert path.is_file()


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(UnknownModelError, match="tf-pose/mobilenet_v2_small"):
        zoo.get_spec("openpose/body25")


def test_missing_file_names_file_url_and_directory(tmp_path):
    spec = zoo.get_spec("pose-mobile/cpm")
    with pytest.raises(ModelFileMissingError) as info:
        zoo.resolve(spec, "tflite", tmp_path)
    msg = str(info.value)
    assert "pose-mobile/cpm/model.tflite" in msg and str(tmp_path) in msg and spec.files["tflite"].url in msg


def test_wrong_checksum_is_reported(tmp_path):
    spec = zoo.get_spec("pose-mobile/cpm")
    bad = tmp_path / "pose-mobile/cpm/model.tflite"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a model")
    with pytest.raises(ChecksumError, match="does not match"):
        zoo.resolve(spec, "tflite", tmp_path, verify=True)


def test_every_zoo_entry_round_trips_through_a_written_model_yaml(tmp_path):
    """read -> to_dict -> write_spec_file -> read gives the same spec, for every kind of entry the zoo has."""
    import dataclasses

    specs = zoo.list_models()
    # The zoo covers the schema's corners: detectors, extra files, named inputs/outputs, extra keys.
    assert any(s.task == "detector" for s in specs.values())
    assert any(f.extra for s in specs.values() for f in s.files.values())
    assert any(f.inputs and f.outputs for s in specs.values() for f in s.files.values())
    assert any(s.extra for s in specs.values())
    for i, (name, spec) in enumerate(specs.items()):
        assert zoo.ModelSpec.from_dict(name, spec.to_dict()) == spec, name
        path = zoo.write_spec_file(spec, tmp_path / f"{i}.yaml")
        assert zoo.load_spec_file(path) == dataclasses.replace(spec, base_dir=tmp_path), name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{i}.yaml" for i in range(len(specs)))


def test_write_spec_file_replaces_whole_files_only(tmp_path):
    import dataclasses

    import yaml

    spec = zoo.get_spec("pose-mobile/cpm")
    path = zoo.write_spec_file(spec, tmp_path / "model.yaml")
    before = path.read_text()
    with pytest.raises(yaml.YAMLError):   # a value yaml cannot write: the earlier file stays as it was
        zoo.write_spec_file(dataclasses.replace(spec, extra={"bad": object()}), path)
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["model.yaml"]
    zoo.write_spec_file(dataclasses.replace(spec, name="renamed"), path)
    assert zoo.load_spec_file(path).name == "renamed" and [p.name for p in tmp_path.iterdir()] == ["model.yaml"]


@pytest.fixture()
def http_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    handler = partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_checks_sha256_and_renames_atomically(http_server, tmp_path):
    root, url = http_server
    payload = bytes(range(256)) * 5000
    (root / "m.bin").write_bytes(payload)
    dest = tmp_path / "models" / "fam" / "m.bin"
    download.fetch(f"{url}/m.bin", dest, hashlib.sha256(payload).hexdigest(), progress=False)
    assert dest.read_bytes() == payload
    # A wrong checksum leaves nothing behind: no file at dest, no partial file beside it.
    dest2 = tmp_path / "models" / "fam" / "m2.bin"
    with pytest.raises(ChecksumError):
        download.fetch(f"{url}/m.bin", dest2, "0" * 64, progress=False)
    assert not dest2.exists()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["m.bin"]


def test_download_of_missing_url_is_one_line_error(http_server, tmp_path):
    _, url = http_server
    with pytest.raises(ModelFileMissingError, match="cannot download"):
        download.fetch(f"{url}/nope.bin", tmp_path / "dl" / "x.bin", progress=False)
    assert not any((tmp_path / "dl").iterdir())


def test_resolve_downloads_into_models_dir_when_allowed(http_server, tmp_path, monkeypatch):
    root, url = http_server
    payload = b"weights" * 1000
    (root / "w.tflite").write_bytes(payload)
    spec = zoo.ModelSpec.from_dict("t/x", {
        "layout": "coco17", "codec": {"name": "heatmap"}, "input_size": [64, 64],
        "files": {"tflite": {"path": "t/x/w.tflite", "url": f"{url}/w.tflite",
                             "sha256": hashlib.sha256(payload).hexdigest()}}})
    monkeypatch.setenv("POSE_MODELS_DIR", str(tmp_path / "cache"))
    kind, path = zoo.resolve(spec, download=True)
    assert kind == "tflite" and path == tmp_path / "cache/t/x/w.tflite" and path.read_bytes() == payload
