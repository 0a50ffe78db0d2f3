"""Checks every loader's arrays pass; each raises a ``ValueError`` naming the problem.

Nothing here silently repairs bad input.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


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


def check_labels_contiguous(y: np.ndarray, num_classes: int) -> None:
  """Every class in ``[0, num_classes)`` has rows: labels such as {0, 5} would make
  six classes, four of them never seen."""
  present = np.unique(y)
  absent = np.setdiff1d(np.arange(num_classes), present)
  if len(absent):
    raise ValueError(
        f"labels must be the contiguous classes 0..{num_classes - 1}, but "
        f"{len(absent)} of them have no rows ({absent[:10].tolist()}; labels found: "
        f"{present[:10].tolist()}); relabel the classes 0..{len(present) - 1}")


def check_float32(z: np.ndarray, names: Sequence[str], after: str) -> None:
  """Scaled values must fit float32 (the models' dtype) or they become inf."""
  too_big = np.abs(np.nan_to_num(z)) > np.finfo(np.float32).max
  if too_big.any():
    col = np.nonzero(too_big)[-1][0]
    raise ValueError(
        f"{int(too_big.sum())} value(s) exceed the float32 range after {after} "
        f"(first in column {names[col]!r}); rescale the data or use scaling "
        "'standardize' or 'max'")


def check_split(name: str, y: np.ndarray, num_classes: int,
                 need_all_classes: bool) -> None:
  if len(y) == 0:
    raise ValueError(f"the {name} split is empty")
  present = np.unique(y)
  if need_all_classes and len(present) < 2:
    raise ValueError(
        f"the {name} split holds a single class ({present[0]}); "
        f"a classifier needs at least two")
