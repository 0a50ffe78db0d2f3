"""Fill-ins and input transforms applied to a :class:`Split` before training:
mean imputation, carry-forward, the mask appended as features."""

from __future__ import annotations


import numpy as np
from gil_jax.data.containers import Split


def mean_imputed(split: Split, train_mean: np.ndarray) -> Split:
  """The split with each missing entry replaced by the observed training mean."""
  x = np.where(split.m > 0, split.x, train_mean).astype(np.float32)
  return split._replace(x=x)


def carry_forward(split: Split, placeholder: float = 0.0) -> Split:
  """Sequences with each missing entry set to the variable's last observed value.

  Before a variable's first observation (and on padded steps) the entry is
  ``placeholder`` (0 = the observed training mean after standardisation).  ``m`` is
  unchanged, so a model may still be told which entries were carried.
  """
  if split.length is None or np.ndim(split.x) != 3:
    raise ValueError("carry-forward imputation needs sequences [N, T, d] with "
                     f"lengths; got x of shape {np.shape(split.x)}")
  x, observed = np.asarray(split.x), np.asarray(split.m) > 0
  steps = np.arange(x.shape[1])[None, :, None]
  last = np.maximum.accumulate(np.where(observed, steps, -1), axis=1)
  carried = np.take_along_axis(x, np.maximum(last, 0), axis=1)
  valid = steps < np.asarray(split.length)[:, None, None]
  x = np.where((last >= 0) & valid, carried, placeholder)
  return split._replace(x=x.astype(np.float32))


def with_mask_features(split: Split) -> Split:
  """``x`` with the mask appended as extra input features (``[..., 2d]``).

  The appended features are always observed (their ``m`` is 1), so a model trained
  on the result sees *which* entries were missing as well as the filled values.
  """
  m = np.asarray(split.m, np.float32)
  return split._replace(
      x=np.concatenate([np.asarray(split.x, np.float32), m], axis=-1),
      m=np.concatenate([m, np.ones_like(m)], axis=-1))
