"""Typed errors. Each carries a one-line message fit for a CLI or a ROS log line."""


class PoseError(Exception):
    """Base class of every error pose_core raises on bad input or configuration."""


class ImageError(PoseError):
    """An image could not be read or is unusable (empty, corrupt, wrong shape, too small/large)."""


class ModelError(PoseError):
    """A model could not be found, verified or loaded."""


class UnknownModelError(ModelError):
    """A model name that is neither in the zoo nor an existing file."""


class ModelFileMissingError(ModelError):
    """A zoo model whose file is not in the models directory (and could not be downloaded)."""


class ChecksumError(ModelError):
    """A model file whose sha256 does not match the zoo entry."""


class DatasetError(PoseError):
    """Malformed annotations or dataset files; the message names the file and the record."""


class CheckpointError(PoseError):
    """A weights/checkpoint file that does not match the architecture or is unsafe to load."""


class ExportError(PoseError):
    """A model that cannot be exported as asked (bad format name, no representative data, ...)."""
