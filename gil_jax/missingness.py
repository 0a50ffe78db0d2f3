"""Missingness simulation: masks fixed by a seed, so every method sees the same ones."""

from __future__ import annotations

import numpy as np


def check_rate(rate: float) -> float:
  rate = float(rate)
  if not 0.0 <= rate < 1.0:
    raise ValueError(f"missing rate must lie in [0, 1), got {rate}")
  return rate


def mcar_mask(shape: tuple[int, ...], rate: float, seed: int) -> np.ndarray:
  """Missing completely at random: each entry is missing with probability ``rate``.

  Returns:
    bool array, True = observed.  The same ``(shape, rate, seed)`` gives the same mask.
  """
  rate = check_rate(rate)
  rng = np.random.default_rng(seed)
  return rng.random(shape) >= rate


def apply_mask(x: np.ndarray, observed: np.ndarray) -> np.ndarray:
  """``x`` as float with NaN where ``observed`` is False (already-missing stays NaN)."""
  if x.shape != observed.shape:
    raise ValueError(f"mask shape {observed.shape} does not match data {x.shape}")
  out = np.array(x, dtype=np.float32 if x.dtype != np.float64 else np.float64)
  out[~observed] = np.nan
  return out
