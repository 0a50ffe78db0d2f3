"""Tabular data path: arrays with NaN for missing -> checked, split, scaled (x, m, y).

Data flow: a loader (``data_prep/``) returns a :class:`RawTabular` whose ``x`` holds NaN
where a value is missing.  :func:`prepare_tabular` validates it, makes a stratified
train/validation/test split by seed, scales it with statistics of the *observed*
training entries only, and returns three :class:`Split` s whose ``x`` is filled with the
placeholder and whose ``m`` is the observation mask (1 = observed, 0 = missing).

Every check raises a ``ValueError`` that names the problem; nothing here silently
repairs bad input.
"""

from __future__ import annotations

import os
import warnings
from typing import NamedTuple, Sequence

import numpy as np
from sklearn.model_selection import train_test_split


class DataFileNotFoundError(FileNotFoundError, ValueError):
  """A data file a loader needs is not on disk (also a ``ValueError``)."""


class RawTabular(NamedTuple):
  """A tabular dataset as loaded, before any split or scaling.

  Attributes:
    x: float array ``[N, d]``; NaN marks a missing entry.
    y: integer labels ``[N]`` in ``[0, num_classes)``.
    num_classes: number of classes.
    feature_names: ``d`` names, used in error messages and reports.
    name: dataset name for results files.
    groups: optional group id per row (e.g. a patient with several encounters):
      :func:`prepare_tabular` then keeps each group inside one split
      (:func:`grouped_split`).
  """
  x: np.ndarray
  y: np.ndarray
  num_classes: int
  feature_names: tuple[str, ...]
  name: str
  groups: np.ndarray | None = None


class Split(NamedTuple):
  """One split, ready for a model: placeholder-filled inputs, mask, labels."""
  x: np.ndarray  # float32 [n, d] (sequences: [n, T, d]); missing = placeholder
  m: np.ndarray  # float32, same shape as x: 1 = observed, 0 = missing
  y: np.ndarray  # int32 [n]
  length: np.ndarray | None = None  # int32 [n] valid steps (sequences only)


class RawSequences(NamedTuple):
  """Sequences as loaded: ``x [N, T, d]`` with NaN for missing, padded to ``T``.

  Steps ``t >= length[i]`` are padding; their values are ignored.
  """
  x: np.ndarray
  y: np.ndarray
  length: np.ndarray
  num_classes: int
  feature_names: tuple[str, ...]
  name: str


class Prepared(NamedTuple):
  """The three splits plus what was learned from the training split."""
  train: Split
  val: Split
  test: Split
  num_classes: int
  feature_names: tuple[str, ...]
  train_mean: np.ndarray  # [d] mean of observed training entries, after scaling
  summary: dict  # counts for the log: rows, all-missing rows, dropped columns, rates
  # (shift, scale) [d] each, the training statistics that scaled x (x_scaled =
  # (x - shift) / scale), so another set (external validation) can be scaled the
  # same way and imputations can be mapped back to the raw scale.
  scaler: tuple[np.ndarray, np.ndarray] | None = None


def require_file(path: str | os.PathLike, what: str = "data file") -> str:
  """Returns ``path`` as a string, or raises naming the missing file."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise DataFileNotFoundError(f"{what} not found: {path!r}")
  return path


def validate_tabular(x: np.ndarray, y: np.ndarray, num_classes: int,
                     feature_names: Sequence[str] | None = None) -> None:
  """Raises ``ValueError`` naming the first problem with ``(x, y)``.

  Checks: ``x`` is a float array of rank 2 with at least one row and column, has no
  +/-inf; ``y`` is an integer array of rank 1 with one label per row and every label
  in ``[0, num_classes)``.
  """
  x = np.asarray(x)
  y = np.asarray(y)
  if x.ndim != 2:
    raise ValueError(f"x must have rank 2 [N, d], got shape {x.shape}")
  if not np.issubdtype(x.dtype, np.floating):
    raise ValueError(
        f"x must be a float array (NaN marks missing), got dtype {x.dtype}")
  if x.shape[0] == 0 or x.shape[1] == 0:
    raise ValueError(f"x is empty: shape {x.shape}")
  if y.ndim != 1:
    raise ValueError(f"y must have rank 1 [N], got shape {y.shape}")
  if y.shape[0] != x.shape[0]:
    raise ValueError(
        f"x has {x.shape[0]} rows but y has {y.shape[0]} labels")
  if not np.issubdtype(y.dtype, np.integer):
    raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
  if num_classes < 2:
    raise ValueError(f"num_classes must be >= 2, got {num_classes}")
  bad = (y < 0) | (y >= num_classes)
  if bad.any():
    raise ValueError(
        f"labels must lie in [0, {num_classes}); found {np.unique(y[bad])[:10]} "
        f"in {int(bad.sum())} rows")
  inf = np.isinf(x)
  if inf.any():
    rows, cols = np.nonzero(inf)
    name = feature_names[cols[0]] if feature_names is not None else cols[0]
    raise ValueError(
        f"x holds {int(inf.sum())} +/-inf values (first at row {rows[0]}, column "
        f"{name!r}); mark missing entries with NaN instead")
  if feature_names is not None and len(feature_names) != x.shape[1]:
    raise ValueError(
        f"{len(feature_names)} feature names for {x.shape[1]} columns")


def stratified_split(y: np.ndarray, val_fraction: float, test_fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Indices of a stratified train/validation/test split, fixed by ``seed``."""
  if not (0 < val_fraction < 1 and 0 <= test_fraction < 1
          and val_fraction + test_fraction < 1):
    raise ValueError(
        f"bad split fractions: val={val_fraction}, test={test_fraction}")
  idx = np.arange(len(y))
  rng = np.random.RandomState(seed)
  try:
    if test_fraction > 0:
      rest, test = train_test_split(idx, test_size=test_fraction, stratify=y,
                                    random_state=rng)
    else:
      rest, test = idx, idx[:0]
    val_of_rest = val_fraction / (1.0 - test_fraction)
    train, val = train_test_split(rest, test_size=val_of_rest, stratify=y[rest],
                                  random_state=rng)
  except ValueError as e:   # scikit-learn's message speaks of its own arguments
    labels, counts = np.unique(y, return_counts=True)
    raise ValueError(
        f"too few rows to split: {len(y)} rows (per class "
        f"{dict(zip(labels.tolist(), counts.tolist()))}) cannot make a stratified "
        f"train/validation/test split with val_fraction={val_fraction}, "
        f"test_fraction={test_fraction} (every split needs rows of every class); "
        "use more rows or larger fractions") from e
  return np.sort(train), np.sort(val), np.sort(test)


def grouped_split(groups: np.ndarray, val_fraction: float, test_fraction: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Indices of a train/validation/test split that keeps every group in one split.

  The fractions are of groups (so of rows only on average), drawn uniformly by
  ``seed``; not stratified by label (with many groups the label shares agree).
  """
  if not (0 < val_fraction < 1 and 0 <= test_fraction < 1
          and val_fraction + test_fraction < 1):
    raise ValueError(
        f"bad split fractions: val={val_fraction}, test={test_fraction}")
  _, inverse = np.unique(np.asarray(groups), return_inverse=True)
  n = int(inverse.max()) + 1
  order = np.random.RandomState(seed).permutation(n)
  n_test, n_val = round(test_fraction * n), max(1, round(val_fraction * n))
  part = np.zeros(n, np.int64)
  part[order[:n_test]] = 2
  part[order[n_test:n_test + n_val]] = 1
  row_part = part[inverse]
  return tuple(np.flatnonzero(row_part == k) for k in (0, 1, 2))


def _check_labels_contiguous(y: np.ndarray, num_classes: int) -> None:
  """Every class in ``[0, num_classes)`` has rows: labels such as {0, 5} would make
  six classes, four of them never seen."""
  present = np.unique(y)
  absent = np.setdiff1d(np.arange(num_classes), present)
  if len(absent):
    raise ValueError(
        f"labels must be the contiguous classes 0..{num_classes - 1}, but "
        f"{len(absent)} of them have no rows ({absent[:10].tolist()}; labels found: "
        f"{present[:10].tolist()}); relabel the classes 0..{len(present) - 1}")


def _observed_stats(x: np.ndarray, axis) -> tuple[np.ndarray, np.ndarray]:
  """Mean and std of the non-NaN entries along ``axis``, without overflow.

  Values near 1e300 overflow the sum of squares (and the sum); such columns are
  computed again on values divided by their largest magnitude.  Columns that do
  not overflow keep the plain computation, bit for bit.
  """
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN columns, overflow
    mean, std = np.nanmean(x, axis=axis), np.nanstd(x, axis=axis)
    bad = ~(np.isfinite(mean) & np.isfinite(std))
    if bad.any():
      big = np.nanmax(np.abs(x), axis=axis, keepdims=True)
      big = np.where(np.isfinite(big) & (big > 0), big, 1.0)
      u = x / big
      big = np.squeeze(big, axis=axis)
      mean = np.where(bad, np.nanmean(u, axis=axis) * big, mean)
      std = np.where(bad, np.nanstd(u, axis=axis) * big, std)
  return mean, std


def _check_float32(z: np.ndarray, names: Sequence[str], after: str) -> None:
  """Scaled values must fit float32 (the models' dtype) or they become inf."""
  too_big = np.abs(np.nan_to_num(z)) > np.finfo(np.float32).max
  if too_big.any():
    col = np.nonzero(too_big)[-1][0]
    raise ValueError(
        f"{int(too_big.sum())} value(s) exceed the float32 range after {after} "
        f"(first in column {names[col]!r}); rescale the data or use scaling "
        "'standardize' or 'max'")


def _scaler(shift: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """``(shift, scale)`` as float32, or float64 where float32 cannot hold them
  (values near 1e300 standardise fine, but their statistics overflow float32)."""
  f32 = np.finfo(np.float32).max
  dtype = (np.float32 if np.all(np.abs(shift) <= f32) and np.all(scale <= f32)
           else np.float64)
  return shift.astype(dtype), scale.astype(dtype)


def _check_split(name: str, y: np.ndarray, num_classes: int,
                 need_all_classes: bool) -> None:
  if len(y) == 0:
    raise ValueError(f"the {name} split is empty")
  present = np.unique(y)
  if need_all_classes and len(present) < 2:
    raise ValueError(
        f"the {name} split holds a single class ({present[0]}); "
        f"a classifier needs at least two")


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
  _check_split("training", y_all, raw.num_classes, need_all_classes=True)
  _check_labels_contiguous(y_all, raw.num_classes)
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
    _check_split(name, y, raw.num_classes, need_all_classes=(name == "train"))

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
    col_mean, col_std = _observed_stats(x_train, axis=0)
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
    _check_float32(z, names, f"scaling {scaling!r}")
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
                  scaler=_scaler(shift, scale))


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
  _check_float32(z, raw.feature_names, "standardising")
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
  _check_labels_contiguous(y_all, raw.num_classes)
  if indices is None:
    indices = stratified_split(y_all, val_fraction, test_fraction, split_seed)
  names = ("train", "val", "test")
  for name, idx in zip(names, indices):
    _check_split(name, y_all[idx], raw.num_classes,
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
    shift, scale = _observed_stats(x_train, axis=(0, 1))
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
                  scaler=_scaler(shift, scale))
