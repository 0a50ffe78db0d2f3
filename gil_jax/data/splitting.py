"""Train / validation / test rows: stratified by class, or grouped (a patient's rows
stay in one split)."""

from __future__ import annotations


import numpy as np
from sklearn.model_selection import train_test_split


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
