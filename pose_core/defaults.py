"""The one place that names the default model (CLI, node params, demo).

MoveNet MultiPose Lightning: right people count on every shared photo, plausible keypoints, ~2/3 of
tf-pose mobilenet_v2_small's network time on this CPU (docs/movenet.md has the comparison table).
"""
DEFAULT_MODEL = "movenet/multipose-lightning"
