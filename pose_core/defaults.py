"""The one place that names the default model (CLI, node params, demo) and the stream's result settings.

Top-down YOLOX-nano + MoveNet Thunder: the best COCO keypoint AP on real human labels among the zoo
entries that keep real time here (<= 80 ms per 640x480 frame with 3 people in the node: 56 ms measured),
and the most labelled people found (AR, AP50), where MoveNet MultiPose stops at 6 people and misses small
or occluded ones. Measurements and the command that reproduces them: docs/topdown.md.
"""
DEFAULT_MODEL = "topdown/yolox-nano+movenet-thunder"

# What a stream reports (pose_core.stream.FramePipeline + PoseTracker): the one set of defaults for the pose
# node's parameters (pose_ros/params.py) and `pose video`'s flags of the same names.
STREAM_DEFAULTS = {
    "min_person_score": 0.1,          # drop people scoring below this
    "min_keypoint_score": 0.0,        # keypoints below this are reported as not detected
    "tracking": True,                 # stable person ids across frames
    "tracking_min_similarity": 0.3,   # OKS to continue a track
    "tracking_max_age": 10,           # frames a lost track is kept
    "smoothing": False,               # One-Euro smoothing of tracked keypoints
    "smoothing_min_cutoff": 1.0,      # Hz
    "smoothing_beta": 0.05,
}
