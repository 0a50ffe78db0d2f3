"""Tables: a :class:`RawTabular` with NaN -> checked, split, scaled :class:`Prepared`."""

from __future__ import annotations

import warnings

import numpy as np
from gil_jax.data.checks import check_float32, check_labels_contiguous, check_split, validate_tabular
from gil_jax.data.containers import Prepared, RawTabular, Split
from gil_jax.data.scaling import observed_stats, scaler
from gil_jax.data.splitting import grouped_split, stratified_split


def prepare_tabular(raw: RawTabular, *, val_fraction: float = 0.1,
                    test_fraction: float = 0.1, split_seed: int = 0,
                    scaling: str = "standardize",
                    placeholder: float | str = 0.0,
                    drop_all_missing_columns: bool = False,
                    test: RawTabular | None = None) -> Prepared:
  """Validates, splits and scales a dataset with missing values.

  Args:
    raw: the dataset; NaN marks missing entries.
    val_fraction: share of rows for the validation split (model selection).
    test_fraction: share of rows for the test split; ignored when ``test`` is given.
    split_seed: seed of the stratified split.
    scaling: ``"standardize"`` (observed training mean/std per column),
      ``"center"`` (subtract the observed training mean per column, keep the units:
      the placeholder 0 is then the column's mean without amplifying columns of
      tiny spread, such as MNIST's border pixels),
      ``"max"`` (divide by the largest observed absolute training value per column,
      keeping 0 at 0, as for pixel images) or ``"none"``.
    placeholder: value written into missing entries after scaling, or ``"mean"``:
      each column's observed training mean (after scaling).  With a non-zero
      placeholder GIL-H differs from zero imputation (the forward pass sees the
      placeholder, the encoder gradient ``x * a`` only what the importance lets
      through).
    drop_all_missing_columns: a column that is entirely missing in the training split
      is an error unless this is set; then it is dropped with a warning.
    test: an optional separate test set (e.g. a dataset's official test file); then
      validation is carved from ``raw`` alone.

  Returns:
    A :class:`Prepared` holding float32 ``x`` / ``m`` and int32 ``y`` per split.
  """
  validate_tabular(raw.x, raw.y, raw.num_classes, raw.feature_names)
  if test is not None:
    validate_tabular(test.x, test.y, raw.num_classes, test.feature_names)
    if test.x.shape[1] != raw.x.shape[1]:
      raise ValueError(
          f"test set has {test.x.shape[1]} columns, training set {raw.x.shape[1]}")
  x_all = np.asarray(raw.x, np.float64)
  y_all = np.asarray(raw.y, np.int64)
  check_split("training", y_all, raw.num_classes, need_all_classes=True)
  check_labels_contiguous(y_all, raw.num_classes)
  if raw.groups is not None:
    if np.shape(raw.groups) != y_all.shape:
      raise ValueError(f"groups must hold one id per row ({len(y_all)}), got "
                       f"shape {np.shape(raw.groups)}")
    split_rows = lambda y, v, t, s: grouped_split(raw.groups, v, t, s)
  else:
    split_rows = stratified_split

  if test is None:
    tr, va, te = split_rows(y_all, val_fraction, test_fraction, split_seed)
    parts = {"train": (x_all[tr], y_all[tr]), "val": (x_all[va], y_all[va]),
             "test": (x_all[te], y_all[te])}
  else:
    tr, va, _ = split_rows(y_all, val_fraction, 0.0, split_seed)
    parts = {"train": (x_all[tr], y_all[tr]), "val": (x_all[va], y_all[va]),
             "test": (np.asarray(test.x, np.float64), np.asarray(test.y, np.int64))}
  for name, (_, y) in parts.items():
    check_split(name, y, raw.num_classes, need_all_classes=(name == "train"))

  names = tuple(raw.feature_names)
  x_train = parts["train"][0]
  observed_train = ~np.isnan(x_train)
  empty_cols = np.flatnonzero(~observed_train.any(axis=0))
  dropped: list[str] = []
  if len(empty_cols):
    listed = ", ".join(repr(names[c]) for c in empty_cols[:10])
    if not drop_all_missing_columns:
      raise ValueError(
          f"{len(empty_cols)} column(s) entirely missing in the training split: "
          f"{listed}; set drop_all_missing_columns to drop them")
    warnings.warn(f"dropping {len(empty_cols)} column(s) entirely missing in the "
                  f"training split: {listed}")
    keep = np.setdiff1d(np.arange(len(names)), empty_cols)
    dropped = [names[c] for c in empty_cols]
    names = tuple(names[c] for c in keep)
    parts = {k: (v[0][:, keep], v[1]) for k, v in parts.items()}
    x_train = parts["train"][0]

  if isinstance(placeholder, str) and placeholder != "mean":
    raise ValueError(f"placeholder must be a number or 'mean', got {placeholder!r}")
  if not isinstance(placeholder, str) and not np.isfinite(placeholder):
    raise ValueError(f"placeholder must be finite, got {placeholder}")
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # nan-reductions, checked above
    col_mean, col_std = observed_stats(x_train, axis=0)
    if scaling == "standardize":
      shift = col_mean
      scale = col_std
    elif scaling == "center":
      shift = col_mean
      scale = np.ones(x_train.shape[1])
    elif scaling == "max":
      shift = np.zeros(x_train.shape[1])
      scale = np.nanmax(np.abs(x_train), axis=0)
    elif scaling == "none":
      shift = np.zeros(x_train.shape[1])
      scale = np.ones(x_train.shape[1])
    else:
      raise ValueError(
          f"scaling must be 'standardize', 'center', 'max' or 'none', got "
          f"{scaling!r}")
  # A constant observed column carries no information but must not divide by zero.
  scale = np.where(scale > 0, scale, 1.0)
  if isinstance(placeholder, str):                   # "mean", checked above
    placeholder = (col_mean - shift) / scale

  def finish(x, y) -> Split:
    m = ~np.isnan(x)
    z = (x - shift) / scale
    z = np.where(m, z, placeholder)
    check_float32(z, names, f"scaling {scaling!r}")
    return Split(x=z.astype(np.float32), m=m.astype(np.float32),
                 y=y.astype(np.int32))

  splits = {k: finish(*v) for k, v in parts.items()}
  tm = splits["train"]
  train_mean = (tm.x * tm.m).sum(0) / np.maximum(tm.m.sum(0), 1.0)
  summary = {
      "rows": {k: int(len(s.y)) for k, s in splits.items()},
      "features": len(names),
      "missing_rate": {k: float(1.0 - s.m.mean()) for k, s in splits.items()},
      "all_missing_rows": {k: int((s.m.sum(1) == 0).sum())
                           for k, s in splits.items()},
      "dropped_columns": dropped,
  }
  return Prepared(train=splits["train"], val=splits["val"], test=splits["test"],
                  num_classes=raw.num_classes, feature_names=names,
                  train_mean=train_mean.astype(np.float32), summary=summary,
                  scaler=scaler(shift, scale))
