"""The training loop: recipe -> strategy, model, optimizer, data -> steps, checkpoints, logs, export.

    trainer = Trainer(load_recipe("training/configs/....yaml"))
    result = trainer.fit()      # resumes from work_dir/checkpoints automatically

A custom loop (not model.fit) because every stage's outputs are supervised by targets chosen by name, the
step counter must live in the optimizer for exact resumption, and checkpoints must be atomic.
Resumption: the model, the optimizer (iterations = the global step, Adam moments) and the LR schedule
position come back from the newest complete checkpoint; the input pipeline is reseeded with the resume
step, so a resumed run sees a fresh but reproducible stream instead of replaying the first batches.
"""
from __future__ import annotations

import logging
import math
import signal
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from pose_core.training.checkpoints import AtomicCheckpointer
from pose_core.training.distribute import is_chief, make_strategy
from pose_core.training.losses import PoseLoss
from pose_core.training.recipe import RecipeError
from pose_core.training.schedules import build_lr_schedule, build_optimizer, current_lr
from pose_core.training.summaries import TensorBoardLogger

log = logging.getLogger(__name__)


class Trainer:
    def __init__(self, recipe: dict, data_service: str | None = None, strategy=None, dataset_fn=None):
        """recipe: a loaded recipe (pose_core.training.recipe.load_recipe). dataset_fn(recipe, metadata,
        batch_size, seed, data_service, input_context) -> tf.data.Dataset of (images, targets) overrides the data
        pipeline (tests, custom data)."""
        self.recipe = recipe
        self.cfg = recipe["training"]
        self.data_service = data_service
        # The strategy first: MultiWorkerMirroredStrategy must exist before other TF ops.
        self.strategy = strategy or make_strategy(self.cfg["distribute"])
        self.chief = is_chief()
        self.work_dir = Path(recipe["work_dir"])
        self.dataset_fn = dataset_fn
        self.skipped_images: dict = {}   # image files the data check left out, by reason
        self._stop = False
        tf.keras.utils.set_random_seed(int(recipe.get("seed", 0)))
        if self.cfg.get("deterministic"):
            # Same recipe + seed -> the same weights, run after run (slower on some ops).
            tf.config.experimental.enable_op_determinism()
        self._build()

    # ---- construction ---------------------------------------------------------------------------
    def _build(self):
        from pose_core.models import build_model, model_metadata
        from pose_core.models.init_weights import load_init_weights
        from pose_core.training.init_from import load_init_from, resolve_init_from

        resolve_init_from(self.recipe)   # model.name / params from an init_from folder
        m = self.recipe["model"]
        params = dict(m.get("params") or {})
        if m.get("init_weights"):
            params["init_weights"] = m["init_weights"]
        global_batch = self.cfg["batch_size"]
        if global_batch % self.strategy.num_replicas_in_sync:
            raise RecipeError(f"training.batch_size {global_batch} does not split over "
                              f"{self.strategy.num_replicas_in_sync} replicas")
        with self.strategy.scope(), _quiet_random_init_warning(bool(m.get("init_from"))):
            self.model = build_model(m["name"], **params)
            if self.cfg.get("freeze_batch_norm"):
                freeze_batch_norm(self.model)
            lr_cfg = self.cfg["lr"]
            freeze_steps = int((self.cfg.get("freeze") or {}).get("steps") or 0)
            if isinstance(lr_cfg, dict) and lr_cfg.get("warmup_steps") and freeze_steps:
                lr_cfg = {**lr_cfg, "rewarm_at": freeze_steps}   # warm up again when the backbone joins
            self.optimizer = build_optimizer(self.cfg.get("optimizer"), build_lr_schedule(lr_cfg))
            # Create the optimizer's slots now so a checkpoint restores into them (not deferred).
            self.optimizer.build(self.model.trainable_variables)
        self.metadata = model_metadata(self.model)
        channel_weights = None
        if self.dataset_fn is None and self.recipe.get("data"):
            from pose_core.training.data import unlabelled_channel_weights
            channel_weights = unlabelled_channel_weights(self.recipe, self.metadata)
        loss_cfg = {k: v for k, v in (self.cfg.get("loss") or {}).items() if k != "unlabelled_keypoints"}
        self.loss = PoseLoss(global_batch, channel_weights=channel_weights, **loss_cfg)
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer)
        # Every worker restores from the chief's directory (shared filesystem); only the chief writes it.
        self.checkpointer = AtomicCheckpointer(self.work_dir / "checkpoints", self.checkpoint, model=self.model,
                                               keep=self.cfg["keep_checkpoints"], is_chief=self.chief)
        restored = self.checkpointer.restore()
        if restored:
            log.info("resumed from %s at step %d", restored, self.step)
        elif m.get("init_from"):
            # Fine-tuning: every weight from a model folder (pose import / pose export), fresh optimizer.
            load_init_from(self.model, m["init_from"])
        elif m.get("init_checkpoint"):
            # Staged recipes ("weights only"): a previous stage's weights by layer name, fresh optimizer.
            path = Path(m["init_checkpoint"])
            if path.is_dir():
                path = path / "model.weights.h5"
            load_init_weights(self.model, path, what="previous stage")
        elif m.get("zero_init_outputs"):
            zero_init_output_layers(self.model)
        self.restored = restored
        self.frozen_mask = frozen_variable_mask(self.model, self.cfg.get("freeze") or {})

    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def _dataset(self, seed: int):
        batch = self.cfg["batch_size"]
        fn = self.dataset_fn or self._pipeline_dataset
        if isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy) and self.data_service is None:
            # Each worker reads its own shard of files.
            return self.strategy.distribute_datasets_from_function(
                lambda ctx: fn(self.recipe, self.metadata, ctx.get_per_replica_batch_size(batch), seed, None, ctx))
        ds = fn(self.recipe, self.metadata, batch, seed, self.data_service, None)
        if self.data_service:
            # Elements come from the service already split between consumers: no file sharding.
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
            ds = ds.with_options(options)
        return self.strategy.experimental_distribute_dataset(ds)

    # ---- the step --------------------------------------------------------------------------------
    def _make_train_step(self):
        model, optimizer, loss_fn, strategy = self.model, self.optimizer, self.loss, self.strategy
        frozen, freeze_steps = self.frozen_mask, int((self.cfg.get("freeze") or {}).get("steps") or 0)

        def replica_step(images, targets):
            with tf.GradientTape() as tape:
                outputs = model(images, training=True)
                total, terms = loss_fn(outputs, targets)
                if model.losses:   # weight decay from kernel regularisers, once per global batch
                    total += tf.add_n(model.losses) / strategy.num_replicas_in_sync
            grads = tape.gradient(total, model.trainable_variables)
            if any(frozen):
                # Frozen layers get zero gradients until freeze.steps: Adam's moments stay zero, so
                # their weights do not move; the step counter decides, so a resumed run agrees.
                on = tf.cast(optimizer.iterations >= freeze_steps, tf.float32)
                grads = [g * tf.cast(on, g.dtype) if f and g is not None else g for g, f in zip(grads, frozen)]
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return total, terms

        @tf.function
        def train_step(images, targets):
            total, terms = strategy.run(replica_step, args=(images, targets))
            reduce = lambda t: strategy.reduce(tf.distribute.ReduceOp.SUM, t, axis=None)  # noqa: E731
            return reduce(total), {k: reduce(v) for k, v in terms.items()}
        return train_step

    def request_stop(self, *_):
        """Finish the current step, checkpoint, and return from fit() (SIGTERM/SIGINT do this); a
        second signal while stopping interrupts at once."""
        if self._stop:
            raise KeyboardInterrupt
        self._stop = True

    # ---- the loop --------------------------------------------------------------------------------
    def fit(self) -> dict:
        cfg = self.cfg
        total_steps = cfg["steps"]
        start = self.step
        seed = int(self.recipe.get("seed", 0)) + start
        tb = TensorBoardLogger(self.work_dir / "tensorboard" if self.chief else None)
        result = {"start_step": start, "steps": start, "work_dir": str(self.work_dir), "loss": None,
                  "images_per_sec": None, "checkpoint": str(self.restored) if self.restored else None}
        if start >= total_steps:
            log.info("already trained to step %d (training.steps %d)", start, total_steps)
            result["exported"] = self.export() if self.recipe["export"].get("at_end") else None
            return result
        validator = self._validator()
        if validator and start == 0 and self.recipe["validation"].get("at_start", True) and not validator.done(0):
            self._validate(validator, tb, 0, result)
        iterator = iter(self._dataset(seed))
        train_step = self._make_train_step()
        batch = cfg["batch_size"]
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for s in previous:
                signal.signal(s, self.request_stop)
        except ValueError:   # not the main thread (e.g. inside a test runner thread): no handlers
            previous = {}
        bar = _progress(cfg.get("progress", True) and self.chief, start, total_steps)
        window_t, window_n, rates = time.perf_counter(), 0, []
        heat_key = self._last_heatmaps_key()
        step = start
        try:
            while step < total_steps and not self._stop:
                try:
                    images, targets = next(iterator)
                except StopIteration:
                    raise RecipeError("the dataset ran out before training.steps; make it repeat") from None
                total, terms = train_step(images, targets)
                step += 1
                window_n += 1
                bar.update(1)
                if step == start + 1:
                    # The first step includes tracing; keep it out of the images/s figure.
                    window_t, window_n = time.perf_counter(), 0
                if step % cfg["log_every"] == 0 or step == total_steps:
                    loss = float(total.numpy())
                    if not math.isfinite(loss):
                        raise RecipeError(f"loss is {loss} at step {step}: lower training.lr")
                    now = time.perf_counter()
                    rate = window_n * batch / (now - window_t) if window_n else float("nan")
                    if window_n:
                        rates.append(rate)
                    window_t, window_n = now, 0
                    scalars = {"loss/total": loss, "lr": current_lr(self.optimizer), "images_per_sec": rate}
                    scalars.update({f"loss/{k}": float(v.numpy()) for k, v in terms.items()})
                    tb.scalars(step, scalars)
                    bar.set_postfix(loss=f"{loss:.4g}", img_s=f"{rate:.1f}", refresh=False)
                    result["loss"] = loss
                if heat_key and cfg.get("image_every") and step % cfg["image_every"] == 0 and self.chief:
                    self._log_heatmaps(tb, step, images, heat_key)
                every = int(self.recipe["validation"].get("every") or 0)
                if validator and ((every and step % every == 0) or step == total_steps) and not validator.done(step):
                    self._validate(validator, tb, step, result)
                if step % cfg["checkpoint_every"] == 0:
                    result["checkpoint"] = str(self.checkpointer.save(step))
                    tb.flush()
            if step % cfg["checkpoint_every"] != 0 and step > start:
                result["checkpoint"] = str(self.checkpointer.save(step))
        finally:
            bar.close()
            tb.flush()
            for s, handler in previous.items():
                signal.signal(s, handler)
        result["steps"] = step
        result["images_per_sec"] = float(np.median(rates)) if rates else None
        result["skipped_images"] = {k: len(v) for k, v in self.skipped_images.items()}
        if validator:
            result["validation"] = validator.history()
            result["best"] = validator.best()
        result["stopped_early"] = step < total_steps
        if step >= total_steps and self.recipe["export"].get("at_end"):
            result["exported"] = self.export(iterator)
        return result

    def _pipeline_dataset(self, recipe: dict, metadata: dict, batch_size: int, seed: int, data_service,
                          input_context):
        from pose_core.training.data import make_training_dataset
        return make_training_dataset(recipe, metadata, batch_size, seed, data_service, input_context,
                                     skipped=self.skipped_images)

    def _validator(self):
        if not (self.chief and self.recipe["validation"].get("annotations")):
            return None
        from pose_core.training.validation import Validator
        validator = Validator(self.recipe, self.work_dir)
        validator.cleanup()
        return validator

    def _validate(self, validator, tb: TensorBoardLogger, step: int, result: dict) -> dict:
        row = validator.evaluate(self.model, step, {"train_photos_loss": self.training_photos_loss()})
        tb.scalars(step, {f"val/{k}": v for k, v in row.items()
                          if k not in ("step", "predictions") and isinstance(v, (int, float))})
        tb.flush()
        result.setdefault("validation", []).append(row)
        return row

    def training_photos_loss(self, max_images: int = 32) -> float:
        """Mean loss per image over (up to max_images of) the training photos as they are - letterboxed,
        not augmented - with the model in inference mode: a loss curve that only the weights move."""
        from pose_core.data.pipeline import make_dataset
        from pose_core.training.data import build_training_codec, input_size_of, read_training_samples

        if self.dataset_fn is not None:   # custom data (tests): no reader to take photos from
            return float("nan")
        codec = build_training_codec(self.recipe, self.metadata)
        data = dict(self.recipe["data"], max_images=max_images)
        samples = read_training_samples(data, codec.layout)
        batch = self.cfg["batch_size"]
        ds = make_dataset(samples, codec.layout, codec, input_size_of(self.recipe, self.metadata), batch,
                          training=False)
        total, n = 0.0, 0
        for images, targets in ds:
            value, _ = self.loss(self.model(images, training=False), targets)
            total += float(value) * batch      # PoseLoss divides by the global batch
            n += int(images.shape[0])
        return total / max(n, 1)

    def _last_heatmaps_key(self) -> str | None:
        keys = [k for k in self.model.output if k.endswith("_heatmaps")] if isinstance(self.model.output, dict) else []
        return keys[-1] if keys else None

    def _log_heatmaps(self, tb: TensorBoardLogger, step: int, images, key: str) -> None:
        local = self.strategy.experimental_local_results(images)[0][:2]
        outputs = self.model(local, training=False)
        heat = outputs[key]
        if self.metadata.get("codec", {}).get("name") == "heatmap" and "sigmoid" in str(self.metadata.get("inference")):
            heat = tf.sigmoid(heat)
        layout_k = None
        from pose_core.layouts import get_layout
        try:
            layout_k = get_layout(self.metadata["layout"]).num_keypoints
        except (KeyError, TypeError):
            pass
        tb.heatmaps(step, local, heat, num_keypoints=layout_k)
        paf_key = key[:-len("heatmaps")] + "pafs"
        if paf_key in outputs:   # the limbs: largest |PAF component| per cell
            tb.heatmaps(step, local, tf.abs(outputs[paf_key]), name="predicted_pafs")

    def export(self, iterator=None) -> dict | None:
        """Write the inference model in the zoo format to work_dir/export (chief only), after
        re-estimating batch-norm statistics on export.bn_batches training batches (see batchnorm.py).
        The checkpoints keep the training-time statistics."""
        if not self.chief:
            return None
        n = int(self.recipe["export"].get("bn_batches", 0) or 0)
        if n:
            from pose_core.training.batchnorm import recalibrate_batch_norm
            iterator = iterator or iter(self._dataset(int(self.recipe.get("seed", 0)) + self.step))
            local = self.strategy.experimental_local_results
            recalibrate_batch_norm(self.model, (local(next(iterator)[0])[0] for _ in range(n)))
        from pose_core.training.exporting import export_trained
        return export_trained(self.model, self.work_dir / "export", self.recipe)


class _quiet_random_init_warning:
    """While building a model that init_from fills right after: the builder's "starts from random init"
    warning (no init_weights given) would be false."""

    def __init__(self, active: bool):
        self.logger = logging.getLogger("pose_core.models.init_weights")
        self.active, self.level = active, self.logger.level

    def __enter__(self):
        if self.active:
            self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


def freeze_batch_norm(model) -> int:
    """Every BatchNormalization layer to inference mode with fixed statistics and affine weights: a
    fine-tune on a few photos in batches of 2-8 would otherwise replace the published statistics with
    noisy small-batch ones (Keras BN with trainable=False normalises with its moving averages)."""
    import keras

    from pose_core.models.init_weights import _all_layers
    n = 0
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            n += 1
    log.info("freeze_batch_norm: %d batch-norm layers in inference mode", n)
    return n


def frozen_variable_mask(model, freeze: dict) -> list[bool]:
    """One flag per model.trainable_variables entry: True when its layer's name matches freeze.layers
    (a regex) and freeze.steps > 0."""
    import re

    from pose_core.models.init_weights import _all_layers
    if not int(freeze.get("steps") or 0):
        return [False] * len(model.trainable_variables)
    try:
        pattern = re.compile(str(freeze["layers"]))
    except re.error as exc:
        raise RecipeError(f"training.freeze.layers: not a regex: {exc}") from None
    frozen_ids = {id(v) for layer in _all_layers(model) if pattern.search(layer.name)
                  for v in layer.trainable_weights}
    mask = [id(v) in frozen_ids for v in model.trainable_variables]
    if not any(mask):
        raise RecipeError(f"training.freeze.layers: {freeze['layers']!r} matches no trainable layer of {model.name}")
    log.info("freeze: %d of %d trainable variables frozen for the first %d steps", sum(mask), len(mask),
             int(freeze["steps"]))
    return mask


def zero_init_output_layers(model) -> list[str]:
    """Zero the kernel and bias of every layer that produces a model output (the heads' last 1x1
    convs), so a fresh model starts from all-zero maps - the trivial prediction - instead of large
    random maps that the first hundreds of steps would only spend shrinking."""
    outputs = model.output.values() if isinstance(model.output, dict) else tf.nest.flatten(model.output)
    names = []
    for tensor in outputs:
        layer = tensor._keras_history.operation
        for w in layer.weights:
            if w.trainable:
                w.assign(tf.zeros(w.shape, w.dtype))
        names.append(layer.name)
    log.info("zero-initialised output layers: %s", ", ".join(names))
    return names


class _NoBar:
    def update(self, n): pass
    def set_postfix(self, **kw): pass
    def close(self): pass


def _progress(enabled: bool, start: int, total: int):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, desc="train")
