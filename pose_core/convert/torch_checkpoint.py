"""Read a PyTorch checkpoint (.pth) into numpy arrays WITHOUT torch and without running pickled code.

A .pth is a pickle whose tensors point at raw storage records. Two containers exist:
- zip (torch >= 1.6): `<root>/data.pkl` + `<root>/data/<key>` (raw little-endian bytes, one per storage);
- legacy (older torch, e.g. the 2018 Lightweight OpenPose release): a stream of pickles (magic number,
  protocol version, system info, the object, the storage keys) followed by each storage as an int64
  element count + raw bytes.
The unpickler resolves only an allow-list of globals (tensor rebuild functions, storage types,
OrderedDict/Counter, set) to harmless local stand-ins; anything else - os.system, builtins.eval, a
module's class - raises CheckpointError before it is called. Tensors come back as numpy arrays.
"""
from __future__ import annotations

import collections
import functools
import io
import os
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from pose_core.errors import CheckpointError

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# torch storage class name -> numpy dtype (bfloat16 is widened to float32 when the tensor is built).
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _StorageType:
    """Stand-in for torch.<X>Storage: just names the element dtype."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    """A flat numpy buffer of one storage record, filled lazily (legacy files read data after the pickle)."""

    def __init__(self, storage_type: _StorageType, numel: int):
        self.storage_type = storage_type
        self.numel = numel
        self.data: np.ndarray | None = None


class _StorageView:
    """Legacy view into a parent storage (offset and size in elements)."""

    def __init__(self, parent: _Storage, offset: int, size: int):
        self.parent, self.offset, self.size = parent, offset, size


class _Tensor:
    """A tensor whose storage may not be read yet; materialised into numpy after loading."""

    def __init__(self, storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    if not isinstance(storage, (_Storage, _StorageView)):
        raise CheckpointError("malformed checkpoint: tensor without a storage record")
    try:
        size = tuple(int(s) for s in size)
        stride = tuple(int(s) for s in stride)
        offset = int(storage_offset)
    except (TypeError, ValueError):
        raise CheckpointError("malformed checkpoint: tensor size/stride are not integers") from None
    if len(size) != len(stride) or min(size + stride + (offset,), default=0) < 0:
        raise CheckpointError(f"malformed checkpoint: tensor size {size} / stride {stride}")
    return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(data, *_ignored):   # nn.Parameter(data, requires_grad, hooks) -> the tensor
    return data


def _counter(*args, **kwargs):   # collections.Counter (e.g. MultiStepLR milestones) -> a plain dict
    return dict(collections.Counter(*args, **kwargs))


# (module, name) -> a FACTORY of the object the unpickler hands out instead of importing anything. A fresh
# object per reference: the pickle BUILD opcode sets attributes on what it is given, and a shared object
# would let one file change how the next one loads. Builtin types (OrderedDict, set) reject attributes.
_SAFE_GLOBALS = {
    ("collections", "OrderedDict"): lambda: collections.OrderedDict,
    ("collections", "Counter"): lambda: functools.partial(_counter),
    ("builtins", "set"): lambda: set,
    ("builtins", "frozenset"): lambda: frozenset,
    ("torch._utils", "_rebuild_tensor_v2"): lambda: functools.partial(_rebuild_tensor),
    ("torch._utils", "_rebuild_tensor"): lambda: functools.partial(_rebuild_tensor),
    ("torch._utils", "_rebuild_parameter"): lambda: functools.partial(_rebuild_parameter),
    **{("torch", name): (lambda name=name: _StorageType(name)) for name in _STORAGE_DTYPES},
    # Legacy files saved from GPU tensors (as training checkpoints usually are) name the CUDA classes;
    # the location is ignored: everything is loaded into host memory.
    **{("torch.cuda", name): (lambda name=name: _StorageType(name)) for name in _STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str, storages: dict, zip_reader=None):
        super().__init__(file)
        self._source = source
        self._storages = storages          # key -> _Storage
        self._zip_reader = zip_reader      # key -> bytes (zip container) or None (legacy)

    def find_class(self, module, name):
        try:
            return _SAFE_GLOBALS[(module, name)]()
        except KeyError:
            raise CheckpointError(
                f"{self._source}: refused: the pickle references {module}.{name}, which could run code "
                f"(only tensors and plain containers are loaded)") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise CheckpointError(f"{self._source}: refused: unsupported persistent record {str(pid)[:60]}")
        if len(pid) == 5:                       # zip: (storage, type, key, location, numel)
            _, storage_type, key, _location, numel = pid
            view = None
        elif len(pid) == 6:                     # legacy: (..., numel, view_metadata)
            _, storage_type, key, _location, numel, view = pid
        else:
            raise CheckpointError(f"{self._source}: malformed storage record")
        if not isinstance(storage_type, _StorageType) or not isinstance(numel, int) or numel < 0:
            raise CheckpointError(f"{self._source}: malformed storage record for key {key!r}")
        key = str(key)
        storage = self._storages.get(key)
        if storage is None:
            storage = self._storages[key] = _Storage(storage_type, numel)
            if self._zip_reader is not None:
                storage.data = self._zip_reader(key, storage_type.dtype, numel)
        if view is not None:
            view_key, offset, size = view
            return _StorageView(storage, int(offset), int(size))
        return storage


def _materialise(obj, source: str):
    """Replace every _Tensor in the loaded tree by a numpy array (copy; bounds checked)."""
    if isinstance(obj, _Tensor):
        storage, base = obj.storage, 0
        if isinstance(storage, _StorageView):
            storage, base = storage.parent, storage.offset
        if storage.data is None:
            raise CheckpointError(f"{source}: truncated: a tensor's data record is missing")
        numel = int(np.prod(obj.size)) if obj.size else 1
        last = base + obj.offset + (sum((s - 1) * st for s, st in zip(obj.size, obj.stride)) if numel else 0)
        if numel and last >= storage.data.size:
            raise CheckpointError(f"{source}: malformed: tensor of shape {obj.size} runs past its storage")
        itemsize = storage.data.itemsize
        array = np.lib.stride_tricks.as_strided(
            storage.data[base + obj.offset:] if numel else storage.data[:0],
            shape=obj.size, strides=tuple(st * itemsize for st in obj.stride)).copy()
        if storage.storage_type.name == "BFloat16Storage":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _materialise(v, source)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _materialise(v, source) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_materialise(v, source) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialise(v, source) for v in obj)
    return obj


def _load_zip(path: Path) -> object:
    source = str(path)
    try:
        archive = zipfile.ZipFile(path)
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f"{source}: truncated or corrupt zip ({exc})") from None
    pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
    if not pkl:
        raise CheckpointError(f"{source}: zip without <root>/data.pkl: not a PyTorch checkpoint")
    root = pkl[0].rsplit("/", 1)[0]
    big_endian = False
    if f"{root}/byteorder" in names:
        big_endian = archive.read(f"{root}/byteorder").strip() == b"big"

    def read_record(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
        name = f"{root}/data/{key}"
        try:
            raw = archive.read(name)
        except KeyError:
            raise CheckpointError(f"{source}: truncated: tensor record {name} is missing") from None
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise CheckpointError(f"{source}: corrupt tensor record {name} ({exc})") from None
        if len(raw) < numel * dtype.itemsize:
            raise CheckpointError(f"{source}: truncated: record {name} has {len(raw)} bytes, "
                                  f"needs {numel * dtype.itemsize}")
        return np.frombuffer(raw, dtype.newbyteorder(">" if big_endian else "<"), count=numel).astype(dtype)

    try:
        data = archive.read(pkl[0])
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise CheckpointError(f"{source}: corrupt {pkl[0]} ({exc})") from None
    obj = _unpickle(io.BytesIO(data), source, {}, read_record)
    return _materialise(obj, source)


def _unpickle(stream, source: str, storages: dict, zip_reader):
    try:
        return _RestrictedUnpickler(stream, source, storages, zip_reader).load()
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError(f"{source}: malformed pickle (nesting too deep)") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            struct.error, UnicodeDecodeError, MemoryError) as exc:
        raise CheckpointError(f"{source}: truncated or malformed pickle ({type(exc).__name__})") from None


def _load_legacy(path: Path) -> object:
    source = str(path)
    size = os.path.getsize(path)
    with path.open("rb") as f:
        # The header pickles hold only ints/dicts, but go through the same restricted unpickler.
        magic = _unpickle(f, source, {}, None)
        if magic != _LEGACY_MAGIC:
            raise CheckpointError(f"{source}: not a PyTorch checkpoint (neither zip nor legacy magic number)")
        if _unpickle(f, source, {}, None) != _LEGACY_PROTOCOL:
            raise CheckpointError(f"{source}: unsupported legacy checkpoint protocol")
        sys_info = _unpickle(f, source, {}, None)
        little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)
        storages: dict[str, _Storage] = {}
        obj = _unpickle(f, source, storages, None)
        keys = _unpickle(f, source, {}, None)
        if not isinstance(keys, list):
            raise CheckpointError(f"{source}: malformed legacy checkpoint (no storage key list)")
        for key in keys:
            storage = storages.get(str(key))
            if storage is None:
                raise CheckpointError(f"{source}: malformed: storage {key!r} listed but never used")
            header = f.read(8)
            if len(header) < 8:
                raise CheckpointError(f"{source}: truncated: storage {key} is missing")
            (numel,) = struct.unpack("<q" if little else ">q", header)
            if numel != storage.numel:
                raise CheckpointError(f"{source}: malformed: storage {key} holds {numel} elements, "
                                      f"expected {storage.numel}")
            dtype = storage.storage_type.dtype
            if numel < 0 or numel * dtype.itemsize > size - f.tell():   # never allocate past the file
                raise CheckpointError(f"{source}: truncated: storage {key} needs {numel * dtype.itemsize} "
                                      f"bytes, {size - f.tell()} left in the file")
            raw = f.read(numel * dtype.itemsize)
            if len(raw) < numel * dtype.itemsize:
                raise CheckpointError(f"{source}: truncated: storage {key} has {len(raw)} of "
                                      f"{numel * dtype.itemsize} bytes")
            storage.data = np.frombuffer(raw, dtype.newbyteorder("<" if little else ">")).astype(dtype)
    return _materialise(obj, source)


def load_checkpoint(path: str | Path) -> object:
    """The checkpoint's object tree (dicts/lists/numbers) with every tensor as a numpy array.
    Raises CheckpointError for missing, truncated, malformed or code-carrying files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    with path.open("rb") as f:
        head = f.read(4)
    if head.startswith(b"PK"):
        return _load_zip(path)
    if head[:1] == b"\x80":   # a pickle stream (legacy torch.save)
        return _load_legacy(path)
    raise CheckpointError(f"{path}: not a PyTorch checkpoint (neither a zip nor a pickle)")


def find_state_dict(obj, source: str = "checkpoint") -> dict[str, np.ndarray]:
    """The {name: array} mapping inside a loaded checkpoint: the object itself, or its "state_dict" /
    "model_state_dict" / "model" entry (training checkpoints also hold optimizer state). The
    'module.' prefix that DataParallel adds is removed."""
    candidates = [obj]
    if isinstance(obj, dict):
        candidates = [obj[k] for k in ("state_dict", "model_state_dict", "model") if k in obj] + candidates
    for candidate in candidates:
        if isinstance(candidate, dict) and candidate and all(
                isinstance(k, str) and isinstance(v, np.ndarray) for k, v in candidate.items()):
            return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in candidate.items()}
    raise CheckpointError(f"{source}: no state_dict (a mapping of names to tensors) in the checkpoint")
