"""Sequences: a :class:`RawSequences` with NaN and padding -> checked, split, scaled
:class:`Prepared` (``x [N, T, d]``, ``length [N]``)."""

from __future__ import annotations

import warnings

import numpy as np
from gil_jax.data.checks import check_float32, check_labels_contiguous, check_split, validate_tabular
from gil_jax.data.containers import Prepared, RawSequences, Split
from gil_jax.data.scaling import observed_stats, scaler
from gil_jax.data.splitting import stratified_split


def scale_sequences(raw: RawSequences, shift: np.ndarray, scale: np.ndarray,
                    placeholder: float = 0.0,
                    idx: np.ndarray | None = None) -> Split:
  """Rows ``idx`` (default all) of ``raw`` as a :class:`Split`, scaled as
  ``(x - shift) / scale`` on observed entries; missing and padded entries get
  ``placeholder``.  Used for the splits of :func:`prepare_sequences` and for an
  external set scored with a trained model's training statistics."""
  validate_sequences(raw)
  d = np.shape(raw.x)[2]
  shift, scale = np.asarray(shift, np.float64), np.asarray(scale, np.float64)
  if shift.shape != (d,) or scale.shape != (d,):
    raise ValueError(f"scaler must hold {d} shifts and scales (one per variable), "
                     f"got shapes {shift.shape} and {scale.shape}")
  idx = np.arange(len(raw.y)) if idx is None else np.asarray(idx)
  x = np.asarray(raw.x, np.float64)[idx]
  length = np.asarray(raw.length)[idx]
  valid = np.arange(x.shape[1])[None, :] < length[:, None]
  m = ~np.isnan(x) & valid[..., None]
  z = np.where(m, (np.where(m, x, 0.0) - shift) / scale, placeholder)
  check_float32(z, raw.feature_names, "standardising")
  return Split(x=z.astype(np.float32), m=m.astype(np.float32),
               y=np.asarray(raw.y)[idx].astype(np.int32),
               length=length.astype(np.int32))


def validate_sequences(raw: RawSequences, m: np.ndarray | None = None) -> None:
  """Raises ``ValueError`` naming the first problem with a :class:`RawSequences`.

  Besides the tabular checks (dtype, labels, inf): rank 3, lengths in ``[1, T]``,
  and, when a mask is given, that it agrees with the NaNs of ``x``.
  """
  x, length = np.asarray(raw.x), np.asarray(raw.length)
  if x.ndim != 3:
    raise ValueError(f"sequences must have rank 3 [N, T, d], got shape {x.shape}")
  validate_tabular(x.reshape(x.shape[0], -1), raw.y, raw.num_classes)
  if len(raw.feature_names) != x.shape[2]:
    raise ValueError(f"{len(raw.feature_names)} feature names for {x.shape[2]} "
                     "variables")
  if length.shape != (x.shape[0],) or not np.issubdtype(length.dtype, np.integer):
    raise ValueError(f"length must be an integer vector of {x.shape[0]} entries, "
                     f"got shape {length.shape} and dtype {length.dtype}")
  if (length < 1).any():
    raise ValueError(f"{int((length < 1).sum())} sequence(s) of length < 1 "
                     f"(first at row {int(np.flatnonzero(length < 1)[0])})")
  if (length > x.shape[1]).any():
    raise ValueError(f"lengths up to {int(length.max())} exceed the padded axis "
                     f"T={x.shape[1]}")
  if m is not None:
    disagree = (np.asarray(m) > 0) == np.isnan(x)
    if disagree.any():
      raise ValueError(f"the mask disagrees with the NaNs of x in "
                       f"{int(disagree.sum())} entries (mask 1 must mean a value)")


def prepare_sequences(raw: RawSequences, *, val_fraction: float = 0.1,
                      test_fraction: float = 0.1, split_seed: int = 0,
                      placeholder: float | str = 0.0,
                      indices: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                      ) -> Prepared:
  """Splits and standardises sequences with statistics of observed training values.

  Args:
    raw: the sequences (NaN = missing; steps past ``length`` are padding).
    val_fraction, test_fraction, split_seed: stratified split, as for tables.
    placeholder: value of missing entries (and of padding) after scaling, or
      ``"3max"``: 3 x the largest observed training value after scaling (one
      number for all variables; at least 0), the placeholder of the GIL
      authors' sequence code.  It lies far outside the data, so the predictor
      can tell a missing entry from an observed one; the value used is
      ``summary["placeholder"]``.
    indices: explicit ``(train, val, test)`` row indices instead of a seeded split
      (e.g. one of the fixed splits of a published protocol).

  Returns:
    A :class:`Prepared` whose splits carry ``length``; ``train_mean`` is 0 (the
    observed training mean after standardisation), per variable.
  """
  validate_sequences(raw)
  y_all = np.asarray(raw.y, np.int64)
  check_labels_contiguous(y_all, raw.num_classes)
  if indices is None:
    indices = stratified_split(y_all, val_fraction, test_fraction, split_seed)
  names = ("train", "val", "test")
  for name, idx in zip(names, indices):
    check_split(name, y_all[idx], raw.num_classes,
                 need_all_classes=(name == "train"))
  x_all = np.asarray(raw.x, np.float64)
  t = np.arange(x_all.shape[1])
  valid_all = t[None, :] < np.asarray(raw.length)[:, None]
  x_all = np.where(valid_all[..., None], x_all, np.nan)     # padding = missing
  x_train = x_all[indices[0]]
  observed = ~np.isnan(x_train)
  empty = np.flatnonzero(~observed.any(axis=(0, 1)))
  if len(empty):
    raise ValueError(f"variable(s) never observed in the training split: "
                     f"{[raw.feature_names[c] for c in empty[:10]]}")
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    shift, scale = observed_stats(x_train, axis=(0, 1))
  scale = np.where(scale > 0, scale, 1.0)
  if isinstance(placeholder, str):
    if placeholder != "3max":
      raise ValueError(f"placeholder must be a number or '3max', got "
                       f"{placeholder!r}")
    # The authors replaced NaN by 0 before taking the maximum, hence >= 0.
    placeholder = 3.0 * max(0.0, float(np.nanmax((x_train - shift) / scale)))

  splits = dict(zip(names, (scale_sequences(raw, shift, scale, placeholder, i)
                            for i in indices)))
  summary = {
      "rows": {k: int(len(v.y)) for k, v in splits.items()},
      "features": len(raw.feature_names),
      "steps": int(x_all.shape[1]),
      "missing_rate": {k: float(1.0 - v.m.sum() / (v.length.sum() * v.m.shape[2]))
                       for k, v in splits.items()},
      "positive_rate": {k: float(np.mean(v.y == 1)) for k, v in splits.items()},
      "all_missing_rows": {k: int((v.m.sum((1, 2)) == 0).sum())
                           for k, v in splits.items()},
      "dropped_columns": [],
      "placeholder": float(placeholder),
  }
  return Prepared(train=splits["train"], val=splits["val"], test=splits["test"],
                  num_classes=raw.num_classes,
                  feature_names=tuple(raw.feature_names),
                  train_mean=np.zeros(x_all.shape[2], np.float32), summary=summary,
                  scaler=scaler(shift, scale))
