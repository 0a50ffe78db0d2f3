"""What a loader returns and what a model trains on: raw arrays, splits, prepared sets.

A loader (``data_prep/``) returns a :class:`RawTabular` or :class:`RawSequences` whose
``x`` holds NaN where a value is missing; :mod:`gil_jax.data.tables` and
:mod:`gil_jax.data.sequences` turn it into a :class:`Prepared` of three :class:`Split`
s whose ``x`` is filled with the placeholder and whose ``m`` is the observation mask
(1 = observed, 0 = missing).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np


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
