"""GIL-D's reward (paper sec. 2.4, App. D.1 eq. 43) and its class-balanced batches.

GIL-D adds to GIL's reward ``-E(y, y_hat)`` a term that rewards features of different
classes for lying apart and features of one class for lying together:

    R(s, a) = -E(y, y_hat) + c * D(zeta+, zeta-),   c > 0 (c = 5 in the authors' code).

``D`` is computed on a class-balanced batch (b/2 samples per class, binary labels)
from four mean squared errors over quarter-batches (eq. 43).  It only shapes the
reward: the encoder is never trained by propagating gradients from ``D`` (sec. 2.4),
so :func:`gil_d_reward` stops its gradient.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def _concrete(x) -> np.ndarray | None:
  """``x`` as a NumPy array, or ``None`` when it is traced (inside jit/vmap/grad)."""
  try:
    return np.asarray(x)
  except (jax.errors.TracerArrayConversionError,
          jax.errors.ConcretizationTypeError):
    return None


def _mse(a: jax.Array, b: jax.Array) -> jax.Array:
  # Mean over rows and feature dimensions, as TF's mean_squared_error reduces.
  return jnp.mean(jnp.square(a - b))


def gil_d_distance(zeta_pos: jax.Array, zeta_neg: jax.Array) -> jax.Array:
  """``D(F+, F-)`` of App. D.1, eq. (43), with ``q = b/4``::

      D = MSE(F+[0:q], F-[0:q]) + MSE(F+[q:2q], F-[q:2q])
          - MSE(F+[0:q], F+[q:2q]) - MSE(F-[0:q], F-[q:2q])

  Between-class distances count positively, within-class ones negatively; each MSE
  averages the squared differences of paired rows over rows and features.

  Args:
    zeta_pos: ``F+`` ``[b/2, e]``, features of the positive samples (label 1).
    zeta_neg: ``F-`` ``[b/2, e]``, features of the negative samples (label 0).

  Returns:
    Scalar ``D``.

  Raises:
    ValueError: if the shapes differ, are not rank 2, or ``b/2`` is not even.
  """
  if zeta_pos.ndim != 2 or zeta_pos.shape != zeta_neg.shape:
    raise ValueError(f"zeta_pos and zeta_neg must both be [b/2, e]; got "
                     f"{tuple(zeta_pos.shape)} and {tuple(zeta_neg.shape)}")
  half = zeta_pos.shape[0]
  if half == 0 or half % 2:
    raise ValueError(f"eq. (43) splits each class into two quarter-batches, so b/2 "
                     f"must be even and positive; got b/2 = {half}")
  q = half // 2
  pos_a, pos_b = zeta_pos[:q], zeta_pos[q:]
  neg_a, neg_b = zeta_neg[:q], zeta_neg[q:]
  return (_mse(pos_a, neg_a) + _mse(pos_b, neg_b)
          - _mse(pos_a, pos_b) - _mse(neg_a, neg_b))                 # eq. (43)


def split_by_class(zeta: jax.Array, labels: jax.Array
                   ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """``(F+, F-, balanced)`` from a binary batch, each class in batch order.

  A stable sort puts the positives (label 1) first, keeping their batch order, then
  the negatives in theirs; ``F+`` and ``F-`` are the first and last ``b/2`` rows.  The
  slicing needs static sizes, so ``balanced`` (a bool scalar) tells whether the batch
  really held ``b/2`` of each; when it did not, the rows are mixed.
  """
  half = zeta.shape[0] // 2
  positive = labels == 1
  order = jnp.argsort(jnp.logical_not(positive), stable=True)
  ordered = zeta[order]
  balanced = jnp.sum(positive) == half
  return ordered[:half], ordered[half:], balanced


def gil_d_reward(ce_per_sample: jax.Array, zeta: jax.Array, labels: jax.Array,
                 c: float = 5.0) -> jax.Array:
  """Per-sample GIL-D reward ``r_b = -CE_b + c * D(zeta+, zeta-)`` (sec. 2.4, eq. 43).

  Pass the cross-entropy and features of the *updated* predictor on the current
  batch (the reward follows the update, as in :mod:`gil_jax.training.step`).  We use
  cross-entropy where the authors use a KL form of the same loss.  ``D`` is one
  scalar per batch, shared by every sample's reward.

  Positives (label 1) and negatives (label 0) are taken in batch order (see
  :func:`split_by_class`), so a batch may be class-ordered or shuffled; with a
  shuffled batch the quarter-batches of eq. (43) are just the first and second
  halves of each class in the order the samples appear.

  Args:
    ce_per_sample: ``[b]`` cross-entropy per sample.
    zeta: ``[b, e]`` features (MLP: encoder output; LSTM: last valid hidden state).
    labels: ``[b]`` binary labels in {0, 1}.
    c: weight of ``D`` (5 in the authors' code).

  Returns:
    ``[b]`` rewards; no gradient flows through ``D``.

  Raises:
    ValueError: on shape mismatch, ``b`` not a multiple of 4, or (concrete labels)
      labels outside {0, 1} or a batch without exactly ``b/2`` per class.  Under jit
      the balance cannot be checked by raising: an unbalanced batch yields NaN
      rewards, so it cannot go unnoticed.
  """
  if zeta.ndim != 2:
    raise ValueError(f"zeta must be [b, e], got shape {tuple(zeta.shape)}")
  b = zeta.shape[0]
  if ce_per_sample.shape != (b,) or labels.shape != (b,):
    raise ValueError(f"ce_per_sample and labels must be [b] = ({b},); got "
                     f"{tuple(ce_per_sample.shape)} and {tuple(labels.shape)}")
  if b % 4:
    raise ValueError(f"GIL-D needs b/2 per class split in quarter-batches: the batch "
                     f"size must be a multiple of 4, got {b}")
  values = _concrete(labels)
  if values is not None:
    if not np.isin(values, (0, 1)).all():
      raise ValueError(f"GIL-D is defined for binary labels in {{0, 1}}; got "
                       f"{np.unique(values).tolist()}")
    if (values == 1).sum() != b // 2:
      raise ValueError(f"GIL-D needs a class-balanced batch ({b // 2} per class); "
                       f"got {(values == 1).sum()} positives of {b}")
  zeta_pos, zeta_neg, balanced = split_by_class(zeta, labels)
  d = jax.lax.stop_gradient(gil_d_distance(zeta_pos, zeta_neg))
  d = jnp.where(balanced, d, jnp.nan)
  return -ce_per_sample + c * d


def balanced_batch_indices(
    key: jax.Array, labels_or_class_index_arrays: jax.Array | Sequence[jax.Array],
    batch_size: int, *, num_classes: int | None = None,
                           replace: bool = False) -> jax.Array:
  """Row indices of a class-balanced batch: ``batch_size / C`` rows of each class.

  For GIL-D's binary tasks that is ``b/2`` per class (App. D.1).  The output is in
  class blocks (class 0's rows first), each block in random order, so its positives
  and negatives are random draws whichever way they are split in quarter-batches.

  Two forms of the population, both jittable:

  * a sequence of ``C`` 1-D integer arrays, the row indices of each class
    (compute them once on the host, e.g. ``[np.flatnonzero(y == k) for k in ...]``).
    Their sizes are static, so every check runs even under jit.  Preferred.
  * a label vector ``[N]``: each class is drawn by Gumbel top-k over its rows
    (``replace=False``) or by ``jax.random.choice`` with ``p`` on its rows
    (``replace=True``), O(N) per class.  Under jit pass ``num_classes``; class sizes
    are then unchecked, and a class smaller than ``batch_size / C`` yields rows of
    other classes.

  Args:
    key: PRNG key; the same key gives the same batch.
    labels_or_class_index_arrays: labels ``[N]`` or per-class index arrays.
    batch_size: ``b``, a positive multiple of the number of classes.
    num_classes: ``C`` for the label-vector form (default: ``max(label) + 1``,
      which needs concrete labels).
    replace: draw with replacement within each class (default: without).

  Returns:
    ``[batch_size]`` int32 row indices.

  Raises:
    ValueError: if ``batch_size`` is not a positive multiple of ``C``, or a class
      has no rows (or, without replacement, fewer than ``batch_size / C``).
  """
  by_class = isinstance(labels_or_class_index_arrays, (list, tuple))
  if by_class:
    classes = [jnp.asarray(a) for a in labels_or_class_index_arrays]
    num = len(classes)
    sizes = [a.shape[0] if a.ndim == 1 else -1 for a in classes]
    if min(sizes, default=0) < 0:
      raise ValueError("class index arrays must be 1-D")
  else:
    labels = jnp.asarray(labels_or_class_index_arrays)
    if labels.ndim != 1 or not jnp.issubdtype(labels.dtype, jnp.integer):
      raise ValueError(f"labels must be an integer vector [N]; got shape "
                       f"{tuple(labels.shape)}, dtype {labels.dtype}")
    values = _concrete(labels)
    if num_classes is None:
      if values is None:
        raise ValueError("pass num_classes when the labels are traced (under jit)")
      num_classes = int(values.max()) + 1 if values.size else 0
    num = num_classes
    sizes = None if values is None else [int((values == k).sum()) for k in range(num)]
  if num < 1 or batch_size < num or batch_size % num:
    raise ValueError(f"batch_size must be a positive multiple of the number of "
                     f"classes ({num}); got {batch_size}")
  per_class = batch_size // num
  if sizes is not None:
    for k, size in enumerate(sizes):
      if size == 0 or (not replace and size < per_class):
        raise ValueError(f"class {k} has {size} rows; a balanced batch of "
                         f"{batch_size} needs {per_class} per class"
                         f"{'' if replace else ' (or replace=True)'}")
  keys = jax.random.split(key, num)
  blocks = []
  for k in range(num):
    if by_class:
      rows = classes[k]
      if replace:
        pick = rows[jax.random.randint(keys[k], (per_class,), 0, rows.shape[0])]
      else:
        pick = jax.random.choice(keys[k], rows, (per_class,), replace=False)
    else:
      member = labels == k
      if replace:
        p = member.astype(jnp.float32)
        pick = jax.random.choice(keys[k], labels.shape[0], (per_class,),
                                 p=p / p.sum())
      else:
        # Gumbel top-k: a uniform draw without replacement among the class's rows.
        scores = jnp.where(member, jax.random.gumbel(keys[k], labels.shape), -jnp.inf)
        pick = jax.lax.top_k(scores, per_class)[1]
    blocks.append(pick.astype(jnp.int32))
  return jnp.concatenate(blocks)
