"""Scaling statistics from the *observed* training entries only."""

from __future__ import annotations

import warnings

import numpy as np


def observed_stats(x: np.ndarray, axis) -> tuple[np.ndarray, np.ndarray]:
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


def masked_moments(x: np.ndarray, m: np.ndarray, who: str
                   ) -> tuple[np.ndarray, np.ndarray]:
  """Per column, the mean and std of the entries ``m`` marks observed (std 1
  where it is 0); a column with no observed entry is refused, naming it (``who``:
  the model asking)."""
  count = m.sum(0)
  if (count == 0).any():
    raise ValueError(f"{who}: column(s) {np.flatnonzero(count == 0).tolist()} have "
                     f"no observed training value, so their mean and variance are "
                     f"unknown; drop them first (drop_all_missing_columns)")
  center = np.where(m, x, 0.0).sum(0) / count
  var = np.where(m, (x - center) ** 2, 0.0).sum(0) / count
  return center, np.where(var > 0, np.sqrt(var), 1.0)


def scaler(shift: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """``(shift, scale)`` as float32, or float64 where float32 cannot hold them
  (values near 1e300 standardise fine, but their statistics overflow float32)."""
  f32 = np.finfo(np.float32).max
  dtype = (np.float32 if np.all(np.abs(shift) <= f32) and np.all(scale <= f32)
           else np.float64)
  return shift.astype(dtype), scale.astype(dtype)
