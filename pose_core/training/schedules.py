"""Learning-rate schedules from a recipe's `lr:` block, as keras.optimizers.schedules objects (the
optimizer evaluates them at its own `iterations`, so a resumed run continues the schedule exactly).

    lr: {schedule: constant, value: 1e-3}
    lr: {schedule: multi_step, steps: [[0.005, 10000], [0.02, 430000], ...]}   # DeeperCut: [lr, until step]
    lr: {schedule: multi_step, base: 4.0e-5, milestones: [100000, 200000], gamma: 0.333}
    lr: {schedule: exponential, base: 1e-3, decay_steps: 10000, decay_rate: 0.95, staircase: true}
    any of them + warmup_steps: N    # linear ramp from 0 over the first N steps
                  [+ rewarm_at: M]   # and again from step M (the trainer sets it to training.freeze.steps)
"""
from __future__ import annotations

import keras

from pose_core.training.recipe import RecipeError


def _num(cfg: dict, key: str, where: str) -> float:
    if key not in cfg:
        raise RecipeError(f"{where}: missing {key!r}")
    try:
        return float(cfg[key])
    except (TypeError, ValueError):
        raise RecipeError(f"{where}.{key}: not a number: {cfg[key]!r}") from None


@keras.saving.register_keras_serializable(package="pose_core")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Ramp the rate linearly from 0 over `warmup_steps`, then follow `after`. Early full-size Adam
    steps on a randomly initialised network can push ReLUs of BN-free heads into never firing."""

    def __init__(self, after, warmup_steps: int, rewarm_at: int = 0):
        """rewarm_at > 0: ramp again from 0 at that step (a fine-tune's frozen layers join then: their
        Adam moments start at zero while the bias correction has long decayed, so their first updates
        would otherwise be several times the rate)."""
        self.after = after
        self.warmup_steps = int(warmup_steps)
        self.rewarm_at = int(rewarm_at)

    def __call__(self, step):
        import tensorflow as tf

        step = tf.cast(step, tf.float32)
        after = self.after(step) if callable(self.after) else tf.constant(self.after, tf.float32)
        since = step - float(self.rewarm_at) if self.rewarm_at > 0 else step
        since = tf.where(since >= 0.0, since, step)
        ramp = tf.minimum(1.0, (since + 1.0) / float(self.warmup_steps))
        return after * ramp

    def get_config(self):
        after = (keras.optimizers.schedules.serialize(self.after)
                 if isinstance(self.after, keras.optimizers.schedules.LearningRateSchedule) else self.after)
        return {"after": after, "warmup_steps": self.warmup_steps, "rewarm_at": self.rewarm_at}


def build_lr_schedule(cfg: dict | float, where: str = "training.lr"):
    """A float (constant) or a LearningRateSchedule."""
    if isinstance(cfg, (int, float)):
        return float(cfg)
    if not isinstance(cfg, dict):
        raise RecipeError(f"{where}: expected a number or a mapping, got {cfg!r}")
    warmup = int(cfg.get("warmup_steps", 0) or 0)
    if warmup > 0:
        rest = {k: v for k, v in cfg.items() if k not in ("warmup_steps", "rewarm_at")}
        return LinearWarmup(build_lr_schedule(rest, where), warmup, int(cfg.get("rewarm_at", 0) or 0))
    cfg = {k: v for k, v in cfg.items() if k != "rewarm_at"}
    kind = cfg.get("schedule", "constant")
    if kind == "constant":
        return _num(cfg, "value", where)
    if kind == "multi_step":
        if "steps" in cfg:
            pairs = cfg["steps"]
            try:
                values = [float(lr) for lr, _ in pairs]
                until = [int(s) for _, s in pairs]
            except (TypeError, ValueError):
                raise RecipeError(f"{where}.steps: expected [[lr, until_step], ...], got {pairs!r}") from None
            if not values:
                raise RecipeError(f"{where}.steps: empty")
            # The last pair's step is the end of training; past it the last rate stays.
            boundaries = until[:-1]
        else:
            base, gamma = _num(cfg, "base", where), float(cfg.get("gamma", 0.1))
            boundaries = [int(m) for m in cfg.get("milestones", [])]
            values = [base * gamma ** i for i in range(len(boundaries) + 1)]
        if boundaries != sorted(boundaries) or len(set(boundaries)) != len(boundaries):
            raise RecipeError(f"{where}: step boundaries must increase: {boundaries}")
        if not boundaries:
            return values[0]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    if kind == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            _num(cfg, "base", where), int(_num(cfg, "decay_steps", where)), _num(cfg, "decay_rate", where),
            staircase=bool(cfg.get("staircase", False)))
    raise RecipeError(f"{where}.schedule: unknown {kind!r} (constant, multi_step, exponential)")


def build_optimizer(cfg: dict, lr):
    """optimizer: {name: adam|sgd|rmsprop, momentum:, weight_decay:, clipnorm:, ...}."""
    cfg = dict(cfg or {"name": "adam"})
    name = cfg.pop("name", "adam").lower()
    classes = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW, "sgd": keras.optimizers.SGD,
               "rmsprop": keras.optimizers.RMSprop}
    if name not in classes:
        raise RecipeError(f"training.optimizer.name: unknown {name!r} ({', '.join(classes)})")
    try:
        return classes[name](learning_rate=lr, **cfg)
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"training.optimizer: {exc}") from None


def current_lr(optimizer) -> float:
    lr = optimizer.learning_rate
    return float(lr.numpy() if hasattr(lr, "numpy") else lr)
