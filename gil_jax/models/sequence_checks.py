"""Shape and length checks shared by the sequence models.

Length checks: shapes are always checked (they are static).  The values of ``lengths``
(``1 <= L <= T``) are checked when they are concrete, i.e. outside ``jit``/``vmap``;
under a trace they cannot be, and there a length ``>= T`` acts as ``T`` and a length
``<= 0`` leaves the zero initial state.  Call :func:`check_lengths` on the host when
the lengths come from data fed to a jitted step.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np



# ------------------------------------------------------------------ input checks


def concrete(x: Any) -> np.ndarray | None:
  """``x`` as a NumPy array, or ``None`` when it is traced (inside jit/vmap/grad)."""
  try:
    return np.asarray(x)
  except (jax.errors.TracerArrayConversionError,
          jax.errors.ConcretizationTypeError):
    return None


def check_shape(name: str, x: jax.Array, expected: tuple[int, ...]) -> None:
  if tuple(x.shape) != tuple(expected):
    raise ValueError(f"{name} must have shape {tuple(expected)}, got {tuple(x.shape)}")


def check_lengths(lengths: jax.Array, max_len: int) -> None:
  """Raises ``ValueError`` unless ``lengths`` is an integer vector in ``[1, max_len]``.

  The dtype and rank are always checked; the values only when ``lengths`` is concrete
  (see the module docstring for what a traced length does).

  Args:
    lengths: ``[B]`` number of valid steps per sequence.
    max_len: ``T``, the padded length.
  """
  if lengths.ndim != 1:
    raise ValueError(f"lengths must be a vector [B], got shape {tuple(lengths.shape)}")
  if not jnp.issubdtype(lengths.dtype, jnp.integer):
    raise ValueError(f"lengths must have an integer dtype, got {lengths.dtype}")
  values = concrete(lengths)
  if values is None:
    return
  if values.size and values.min() < 1:
    bad = np.flatnonzero(values < 1)
    raise ValueError(f"lengths must be >= 1 (empty sequences have no last hidden "
                     f"state); samples {bad.tolist()} have {values[bad].tolist()}")
  if values.size and values.max() > max_len:
    bad = np.flatnonzero(values > max_len)
    raise ValueError(f"lengths must be <= T = {max_len}; samples {bad.tolist()} have "
                     f"{values[bad].tolist()}")


def sequence_mask(lengths: jax.Array, max_len: int) -> jax.Array:
  """``valid[b, t] = t < lengths[b]``, shape ``[B, T]`` (bool)."""
  return jnp.arange(max_len)[None, :] < lengths[:, None]


def check_sequence(x: jax.Array, lengths: jax.Array) -> tuple[int, int, int]:
  if x.ndim != 3:
    raise ValueError(f"x must be [B, T, d], got shape {tuple(x.shape)}")
  batch, max_len, d = x.shape
  if lengths.ndim != 1 or lengths.shape[0] != batch:
    raise ValueError(f"lengths must have shape ({batch},) to match x {tuple(x.shape)},"
                     f" got {tuple(lengths.shape)}")
  check_lengths(lengths, max_len)
  return batch, max_len, d


def zero_padding(x: jax.Array, valid: jax.Array) -> jax.Array:
  # A where (not a product): padding may hold NaN/inf, and 0 * NaN is NaN.
  return jnp.where(valid[..., None], x, jnp.zeros((), x.dtype))


# ------------------------------------------------------------------ LSTM (App. A)
