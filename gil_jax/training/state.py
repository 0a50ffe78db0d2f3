"""The training state: one explicit pytree, passed in and returned by every step."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class TrainState(NamedTuple):
  """Everything a run carries from one step to the next (all device arrays).

  Attributes:
    step: predictor updates taken so far.
    rng: raw uint32 key data (checkpointable; see :func:`typed_key`).
    hparams: the run's :class:`gil_jax.config.HParams`.
    params: the predictor's parameters.
    opt_state: the predictor optimizer's state.
    batch_idx: ``[B]`` rows of the training split in the current batch.
    source: the importance source's state (GIL: its replay buffer, actor, ...).
    best_params: the best-on-validation parameters so far.
    best_score: their validation score.
    best_step: the step they were reached at.
  """
  step: jax.Array
  rng: jax.Array
  hparams: Any
  params: Any
  opt_state: Any
  batch_idx: jax.Array
  source: Any
  best_params: Any
  best_score: jax.Array
  best_step: jax.Array


def typed_key(key: jax.Array) -> jax.Array:
  """A typed PRNG key from either a typed key or raw uint32 key data."""
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    return key
  return jax.random.wrap_key_data(key)
