"""Evaluation: COCO OKS AP/AR (pycocotools), CrowdPose AP by crowd level, PCKh for MPII-style data."""
from pose_core.evaluation.coco import (
                                       KEYPOINT_STAT_NAMES,
                                       convert_results,
                                       evaluate_keypoints,
                                       ground_truth_as_results,
                                       ground_truth_layout,
                                       load_ground_truth,
                                       to_results,
)
from pose_core.evaluation.crowdpose import crowd_buckets, crowd_index, evaluate_crowdpose
from pose_core.evaluation.pckh import evaluate_pckh, head_size, pckh

__all__ = ["KEYPOINT_STAT_NAMES", "convert_results", "evaluate_keypoints", "ground_truth_as_results",
           "ground_truth_layout", "load_ground_truth", "to_results", "crowd_buckets", "crowd_index",
           "evaluate_crowdpose", "evaluate_pckh", "head_size", "pckh"]
