"""Training data: dataset readers -> Sample records, synthetic data, TF-only augmentation and target
rendering, and the tf.data pipeline (optionally on tf.data service). See docs/data.md."""
