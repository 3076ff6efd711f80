"""PyTorch references written for the converter parity tests (never imported by pose_core)."""
