"""Stratified K-fold cross-validation splits, by row (one row = one patient).

Small cohorts (a few hundred patients) give noisy single-split estimates: with K
folds every row is a test row exactly once, and the K test scores say how much the
estimate moves with the split.  Fold ``k`` is one run: its test split is fold
``k``; its validation split (model selection) is a stratified share of the other
``K - 1`` folds, the rest trains.  Nothing here trains anything: the launcher
(``config.cv_folds``) turns each fold into a run.

Folds differ in size by at most one row per class, so their training splits can
differ in shape; :func:`equal_shape_groups` groups the folds (or any runs) whose
arrays have equal shapes, so that each group trains as one vmapped program.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from gil_jax.data.containers import Prepared
from gil_jax.data.splitting import stratified_split


def stratified_folds(y: np.ndarray, num_folds: int, seed: int = 0,
                     groups: np.ndarray | None = None) -> list[np.ndarray]:
  """The test rows of each of ``num_folds`` stratified folds.

  Args:
    y: integer labels ``[N]``, the stratification target.
    num_folds: ``K >= 2``; every class needs at least ``K`` rows.
    seed: shuffles the rows before they are dealt into folds.
    groups: optional group id per row (a patient with several rows): each
      group then lies in one fold (``StratifiedGroupKFold``; the class shares
      are as close as whole groups allow).

  Returns:
    ``K`` sorted int64 index arrays: disjoint, together every row once, each
    holding every class in (almost, +/- 1 row) its overall proportion.

  Raises:
    ValueError: ``num_folds`` is not an integer >= 2, or a class has fewer rows
      than folds (one fold would lack it).
  """
  y = np.asarray(y)
  if (isinstance(num_folds, bool) or not isinstance(num_folds, (int, np.integer))
      or num_folds < 2):
    raise ValueError(f"cv_folds must be an integer >= 2, got {num_folds!r}")
  if y.ndim != 1 or not len(y):
    raise ValueError(f"labels must be a non-empty vector, got shape {y.shape}")
  classes, counts = np.unique(y, return_counts=True)
  if counts.min() < num_folds:
    rare = {int(c): int(n) for c, n in zip(classes, counts) if n < num_folds}
    raise ValueError(
        f"{num_folds}-fold cross-validation needs at least {num_folds} rows of "
        f"every class; class(es) with fewer rows (class: rows): {rare}")
  if groups is None:
    splitter = StratifiedKFold(n_splits=int(num_folds), shuffle=True,
                               random_state=int(seed))
  else:
    groups = np.asarray(groups)
    if groups.shape != y.shape:
      raise ValueError(f"groups must hold one id per row ({len(y)}), got shape "
                       f"{groups.shape}")
    if len(np.unique(groups)) < num_folds:
      raise ValueError(f"{num_folds}-fold cross-validation needs at least "
                       f"{num_folds} groups, got {len(np.unique(groups))}")
    splitter = StratifiedGroupKFold(n_splits=int(num_folds), shuffle=True,
                                    random_state=int(seed))
  return [np.sort(test).astype(np.int64)
          for _, test in splitter.split(np.zeros(len(y)), y, groups)]


def fold_indices(y: np.ndarray, num_folds: int, fold: int, *,
                 val_fraction: float = 0.1, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """``(train, val, test)`` row indices of fold ``fold``.

  Test: the fold's rows (:func:`stratified_folds` with ``seed``).  Validation:
  a stratified ``val_fraction`` of the remaining rows (same ``seed``); training:
  the rest.  The three are disjoint and cover every row.

  Args:
    y: integer labels ``[N]``.
    num_folds: ``K``.
    fold: which fold is the test split, ``0 <= fold < K``.
    val_fraction: share of the non-test rows used for validation.
    seed: fixes the folds and the validation draw.

  Returns:
    Three sorted int64 index arrays.
  """
  if not 0 <= fold < num_folds:
    raise ValueError(f"fold must lie in [0, {num_folds}), got {fold}")
  y = np.asarray(y)
  test = stratified_folds(y, num_folds, seed)[fold]
  rest = np.setdiff1d(np.arange(len(y)), test)
  train, val, _ = stratified_split(y[rest], val_fraction, 0.0, seed)
  return rest[train], rest[val], test


def equal_shape_groups(datasets: Sequence[Prepared]) -> list[list[int]]:
  """Indices of ``datasets`` grouped by the shapes of their splits' arrays.

  Runs whose data have equal shapes can be stacked and trained as one vmapped
  program; K folds of unequal size give the fewest groups possible without
  padding (padding training rows would change which rows a batch draws).
  Groups keep the order of first appearance; indices within a group ascend.
  """
  groups: dict[tuple, list[int]] = {}
  for i, p in enumerate(datasets):
    key = tuple(tuple(np.shape(a)) for s in (p.train, p.val, p.test)
                for a in s if a is not None)
    groups.setdefault(key, []).append(i)
  return list(groups.values())
