"""Importers: published weights -> pose_core Keras architectures (docs/import.md).

- tfpose.py            tf-pose-estimation frozen graph -> models.tfpose_mobilenet_v2 (constants copied by scope)
- torch_checkpoint.py  PyTorch .pth (zip or legacy) -> numpy, without torch and without running pickled code
- lwopenpose.py        Lightweight OpenPose state_dict -> models.lightweight_openpose
- zoo_entry.py         model.keras + model.yaml (zoo format) for PoseEstimator.from_file and the node
"""
