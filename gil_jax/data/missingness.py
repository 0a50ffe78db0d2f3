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


# --------------------------------------------------------------- missing at random

MAR_REGIONS = ("last", "first", "random")


def _observed_columns(d: int, observed_fraction: float, observed_columns,
                      region: str, rng: np.random.Generator) -> np.ndarray:
  """Sorted indices of the always-observed columns (see :func:`mar_mask`)."""
  if observed_columns is not None:
    cols = np.asarray(observed_columns)
    if cols.dtype == bool:
      if cols.shape != (d,):
        raise ValueError(
            f"a boolean observed_columns needs shape ({d},), got {cols.shape}")
      cols = np.flatnonzero(cols)
    elif not np.issubdtype(cols.dtype, np.integer) or cols.ndim != 1:
      raise ValueError("observed_columns must be 1-D integer indices or a boolean "
                       f"[d] mask, got dtype {cols.dtype} and shape {cols.shape}")
    if cols.size and (cols.min() < 0 or cols.max() >= d):
      raise ValueError(
          f"observed_columns must lie in [0, {d}), got {cols.min()}..{cols.max()}")
    cols = np.unique(cols)
  else:
    fraction = float(observed_fraction)
    if not 0.0 < fraction <= 1.0:
      raise ValueError(
          f"observed_fraction must lie in (0, 1], got {observed_fraction}")
    k = int(round(fraction * d))
    if region == "last":
      cols = np.arange(d - k, d)
    elif region == "first":
      cols = np.arange(k)
    elif region == "random":
      cols = np.sort(rng.permutation(d)[:k])
    else:
      raise ValueError(f"region must be one of {MAR_REGIONS}, got {region!r}")
  if cols.size == 0:
    raise ValueError(
        "the always-observed region is empty: MAR needs at least one observed "
        f"column to condition on (d={d}, observed_fraction={observed_fraction}, "
        f"observed_columns={observed_columns!r})")
  return cols


def _calibrated_offset(z: np.ndarray, strength: float, target: float) -> float:
  """``b`` with ``mean_i sigmoid(b + strength * z_i) = target``, by bisection.

  The mean is continuous and strictly increasing in ``b``, from 0 to 1, so the root is
  unique for ``0 < target < 1``.
  """
  logit = lambda t: np.log(t) - np.log1p(-t)
  span = abs(strength) * float(np.max(np.abs(z))) if z.size else 0.0
  lo, hi = logit(target) - span - 1.0, logit(target) + span + 1.0
  for _ in range(200):
    mid = 0.5 * (lo + hi)
    if np.mean(_sigmoid(mid + strength * z)) < target:
      lo = mid
    else:
      hi = mid
    if hi - lo < 1e-12:
      break
  return 0.5 * (lo + hi)


def _sigmoid(v: np.ndarray) -> np.ndarray:
  return 0.5 * (1.0 + np.tanh(0.5 * v))  # overflow-free form of 1 / (1 + exp(-v))


def mar_row_probabilities(x: np.ndarray, rate: float, seed: int,
                          observed_fraction: float = 0.5, *,
                          observed_columns=None, region: str = "last",
                          strength: float = 2.0, summary=None
                          ) -> tuple[np.ndarray, np.ndarray]:
  """The MAR model behind :func:`mar_mask`: observed columns and per-row ``p_i``.

  Returns:
    ``(observed_columns, p)``: sorted indices (into the row-major flattening of one
    sample) of the always-observed columns, and ``p [N]``, each row's probability that
    an entry (or group) outside that region is missing.  See :func:`mar_mask`.
  """
  rate = check_rate(rate)
  x = np.asarray(x)
  if x.ndim < 2:
    raise ValueError(f"x must have shape [N, ...features], got {x.shape}")
  if x.shape[0] == 0 or x[0].size == 0:
    raise ValueError(f"x is empty: shape {x.shape}")
  if not np.isfinite(strength):
    raise ValueError(f"strength must be finite, got {strength}")
  flat = np.asarray(x.reshape(x.shape[0], -1), np.float64)
  n, d = flat.shape
  rng = np.random.default_rng(seed)
  cols = _observed_columns(d, observed_fraction, observed_columns, region, rng)
  n_rest = d - cols.size
  # Expected missing rate = (n_rest / d) * mean_i p_i, so the rows' mean probability
  # must equal rate * d / n_rest, which is only possible below 1.
  target = rate * d / n_rest if n_rest else np.inf
  if rate > 0 and target >= 1.0:
    raise ValueError(
        f"missing rate {rate} is unreachable: only {n_rest} of {d} entries per sample "
        f"lie outside the always-observed region, so the rate must be below "
        f"{n_rest / d:.4g}; lower the rate or observed_fraction")
  if rate == 0:
    return cols, np.zeros(n)

  part = flat[:, cols]
  if summary is None:
    # Rows whose observed part is all NaN get the neutral summary (z = 0) below.
    counts = np.sum(~np.isnan(part), axis=1)
    s = np.where(counts > 0, np.nansum(part, axis=1) / np.maximum(counts, 1), np.nan)
  else:
    s = np.asarray(summary(part), np.float64)
    if s.shape != (n,):
      raise ValueError(f"summary must map [N, k] to [N], got shape {s.shape}")
  if np.isinf(s).any():
    raise ValueError("the observed-part summary holds +/-inf")
  finite = ~np.isnan(s)
  z = np.zeros(n)
  if finite.any():
    mu, sd = s[finite].mean(), s[finite].std()
    # A constant summary carries no information: missingness is then MCAR.
    z[finite] = (s[finite] - mu) / sd if sd > 0 else 0.0
  b = _calibrated_offset(z, float(strength), target)
  return cols, _sigmoid(b + strength * z)


def mar_mask(x: np.ndarray, rate: float, seed: int, observed_fraction: float = 0.5,
             *, observed_columns=None, region: str = "last", group_size: int = 1,
             strength: float = 2.0, summary=None) -> np.ndarray:
  """Missing at random: a fixed region is always observed and drives the rest.

  The paper's MAR MNIST (sec. 4.4) "assumes part of the image is always observable
  and the positions of missing pixels are determined by a distribution conditioned on
  features extracted from the observable portion", following MIWAE (Mattei &
  Frellsen, 2019), whose MNIST variant keeps the bottom half observed and drops the
  top half, top quarter or second quarter depending on the bottom half's number of
  white pixels.  The paper fixes neither the feature nor the rate (Table 3 lists no
  rate for MAR), so this function uses a calibrated logistic model:

  * Observed region ``O`` (the same columns for every sample): ``observed_columns``
    if given, else ``round(observed_fraction * d)`` columns of the row-major
    flattening of one sample: the last ones (``region="last"``: for ``[N, 28, 28]``
    images and fraction 0.5, the bottom 14 pixel rows, as in MIWAE), the first ones,
    or a subset drawn with ``seed`` (``"random"``).
  * Feature: ``s_i`` = mean of row ``i`` over ``O`` (or ``summary(x[:, O])``),
    standardised over rows, ``z_i = (s_i - mean s) / std s``.
  * Each remaining entry of row ``i`` is missing independently with probability
    ``p_i = sigmoid(b + strength * z_i)``; with ``group_size = g > 1`` the remaining
    columns (in increasing order) are cut into consecutive groups of ``g`` that go
    missing together (``g = 28`` on MNIST drops whole pixel rows, the pattern the
    paper describes: "entire rows of pixels could be missing").
  * ``b`` is set by bisection so that the expected overall missing rate,
    ``(|not O| / d) * mean_i p_i``, equals ``rate``; the realised rate scatters
    around it like a MCAR mask's.

  Missingness thus depends only on always-observed values (MAR, not MNAR), and the
  dependence is monotone with sign and steepness given by ``strength``
  (``strength=0`` is MCAR outside ``O``).  NaN already in ``x`` is ignored by the
  summary (a row whose observed part is all NaN gets ``z_i = 0``); such entries stay
  missing under :func:`apply_mask`.

  Args:
    x: complete (or already incomplete, NaN) data ``[N, ...]``; trailing axes are
      flattened row-major to ``d`` columns.
    rate: expected share of missing entries over all ``N * d``, in ``[0, 1)`` and
      below ``|not O| / d``.
    seed: fixes the mask (and a ``"random"`` region).
    observed_fraction: share of columns always observed, in ``(0, 1]``.
    observed_columns: explicit always-observed columns (indices or boolean ``[d]``
      into the flattened sample); overrides ``observed_fraction`` and ``region``.
    region: ``"last"``, ``"first"`` or ``"random"`` (see above).
    group_size: number of consecutive remaining columns that go missing together.
    strength: logistic slope on the standardised feature.
    summary: optional map ``[N, |O|] -> [N]`` replacing the row mean.

  Returns:
    bool array of ``x.shape``, True = observed.  The same arguments and ``seed`` give
    the same mask.

  Raises:
    ValueError: ``rate`` outside ``[0, 1)`` or unreachable, an empty observed region,
      bad columns, region or group size.
  """
  group_size = int(group_size)
  if group_size < 1:
    raise ValueError(f"group_size must be >= 1, got {group_size}")
  cols, p = mar_row_probabilities(
      x, rate, seed, observed_fraction, observed_columns=observed_columns,
      region=region, strength=strength, summary=summary)
  n = x.shape[0]
  d = int(np.prod(x.shape[1:]))
  observed = np.ones((n, d), bool)
  rest = np.setdiff1d(np.arange(d), cols)
  if rest.size and rate > 0:
    group_of = np.arange(rest.size) // group_size
    n_groups = int(group_of[-1]) + 1
    # A stream of its own, so the mask's draws do not depend on whether a "random"
    # region consumed draws from the seed's first stream.
    rng = np.random.default_rng([seed, 1])
    missing = rng.random((n, n_groups)) < p[:, None]
    observed[:, rest] = ~missing[:, group_of]
  return observed.reshape(x.shape)
