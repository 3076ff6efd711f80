"""TensorBoard logging: loss per output, total loss, learning rate, images/s, and a picture of the
predicted heatmaps (max over keypoint channels, background excluded) and, for PAF models, of the
predicted PAFs (max |component|) next to the input."""
from __future__ import annotations

import os

import tensorflow as tf


class TensorBoardLogger:
    def __init__(self, log_dir: str | os.PathLike | None):
        self.writer = tf.summary.create_file_writer(str(log_dir)) if log_dir else None

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self.writer is None:
            return
        with self.writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, float(value))

    def heatmaps(self, step: int, images, heatmaps, num_keypoints: int | None = None, max_images: int = 2,
                 name: str = "predicted_heatmaps") -> None:
        """images: (N, H, W, 3) float 0..255 RGB; heatmaps: (N, h, w, C) at the network stride."""
        if self.writer is None:
            return
        images = tf.convert_to_tensor(images)[:max_images]
        heat = tf.convert_to_tensor(heatmaps, tf.float32)[:max_images]
        if num_keypoints:
            heat = heat[..., :num_keypoints]  # drop the background channel
        heat = tf.clip_by_value(tf.reduce_max(heat, axis=-1, keepdims=True), 0.0, 1.0)
        heat = tf.image.resize(heat, tf.shape(images)[1:3], method="nearest")
        rgb = tf.cast(images, tf.float32) / 255.0
        # Input | heatmap in red over a dimmed input.
        overlay = tf.clip_by_value(0.4 * rgb + tf.concat([heat, tf.zeros_like(heat), tf.zeros_like(heat)], -1), 0, 1)
        with self.writer.as_default(step=step):
            tf.summary.image(name, tf.concat([rgb, overlay], axis=2), max_outputs=max_images)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()
