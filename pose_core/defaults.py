"""The one place that names the default model (CLI, node params, demo).

Top-down YOLOX-nano + MoveNet Thunder: the best COCO keypoint AP on real human labels among the zoo
entries that keep real time here (<= 80 ms per 640x480 frame with 3 people in the node: 56 ms measured),
and the most labelled people found (AR, AP50), where MoveNet MultiPose stops at 6 people and misses small
or occluded ones. Measurements and the command that reproduces them: docs/topdown.md.
"""
DEFAULT_MODEL = "topdown/yolox-nano+movenet-thunder"
