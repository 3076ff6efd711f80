"""The one place that names the default model (CLI, node params, demo)."""
DEFAULT_MODEL = "tf-pose/mobilenet_v2_small"
