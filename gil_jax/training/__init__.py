"""Training: one step, the on-device loop, many runs as one program.

* :mod:`~gil_jax.training.state`: :class:`TrainState`, the explicit pytree;
* :mod:`~gil_jax.training.step`: :func:`make_trainer` (``init``, the step, ``run``,
  ``predict``);
* :mod:`~gil_jax.training.loop`: blocks of steps, each followed by validation;
* :mod:`~gil_jax.training.fit`: :func:`fit_many`, stack -> host calls -> score;
* :mod:`~gil_jax.training.callbacks`: checkpoints, progress, profiling between calls;
* :mod:`~gil_jax.training.checkpoint`: orbax checkpoints with run fingerprints.
"""
