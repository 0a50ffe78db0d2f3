"""EM imputation: a multivariate Gaussian fitted to incomplete data.

The rows are modelled as draws of ``N(mu, Sigma)``; missing entries are missing at
random (MCAR or MAR), so the observed-data likelihood is maximised by EM
(Dempster, Laird & Rubin, 1977; Little & Rubin, 2002, ch. 11):

* E-step, per row with observed part ``o`` and missing part ``u``: the conditional
  mean ``x_u = mu_u + Sigma_uo Sigma_oo^-1 (x_o - mu_o)`` and the conditional
  covariance ``C_uu = Sigma_uu - Sigma_uo Sigma_oo^-1 Sigma_ou`` give the expected
  sufficient statistics ``E[x]`` and ``E[x x^T] = x x^T + C``.
* M-step: ``mu = mean E[x]``, ``Sigma = mean E[x x^T] - mu mu^T + ridge I``.

The ridge keeps ``Sigma`` positive definite when columns are (nearly) collinear, as
one-hot groups are; it is the maximiser of the log-likelihood penalised by
``-(n ridge / 2) tr(Sigma^-1)``, so every iteration increases that objective
(recorded in :attr:`EMModel.objective`).  The work is done on columns standardised
with the observed training mean and deviation, so ``ridge`` is relative to each
column's variance.

A missing entry is imputed with its conditional mean given the row's observed
entries under the fitted Gaussian; observed entries are kept.  Rows that share a
missingness pattern share one Cholesky factorisation, so one iteration costs
``O(patterns x d^3 + rows x d^2)``: cheap for the few patterns of real tables,
costly for MCAR masks on many columns (bound the rows with ``max_fit_rows``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import scipy.linalg

from gil_jax.data import Split
from gil_jax.data.scaling import masked_moments


class EMModel(NamedTuple):
  """A Gaussian fitted by EM, in standardised units (``(x - center) / scale``)."""
  mu: np.ndarray          # [d]
  sigma: np.ndarray       # [d, d]
  center: np.ndarray      # [d] observed training mean per column
  scale: np.ndarray       # [d] observed training deviation per column (1 if none)
  objective: np.ndarray   # [iterations] penalised log-likelihood per row

  kind = "em"

  @property
  def width(self) -> int:
    return int(self.mu.shape[0])

  @property
  def mean(self) -> np.ndarray:
    """The fitted mean in the data's units."""
    return self.center + self.scale * self.mu

  @property
  def cov(self) -> np.ndarray:
    """The fitted covariance in the data's units (ridge included)."""
    return self.sigma * np.outer(self.scale, self.scale)

  def impute(self, split: Split, key=None) -> np.ndarray:
    """``split.x`` with each missing entry replaced by its conditional mean
    (deterministic: ``key`` is unused)."""
    del key
    z, m = _standardised(split, self.center, self.scale)
    out = z.copy()
    for obs, rows in _patterns(m):
      if obs.all():
        continue
      mean, _, _ = _conditional(self.mu, self.sigma, obs, z[rows])
      out[np.ix_(rows, ~obs)] = mean
    return out * self.scale + self.center

  def state(self) -> dict:
    return {name: np.asarray(value) for name, value in self._asdict().items()}

  @classmethod
  def from_state(cls, state: dict) -> EMModel:
    return cls(**{name: np.asarray(state[name]) for name in cls._fields})


def _standardised(split: Split, center: np.ndarray, scale: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
  m = np.asarray(split.m) > 0
  z = (np.asarray(split.x, np.float64) - center) / scale
  return np.where(m, z, 0.0), m


def _patterns(m: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """``(observed columns, row indices)`` for each distinct missingness pattern."""
  if len(m) == 0:
    return
  unique, inverse = np.unique(m, axis=0, return_inverse=True)
  inverse = inverse.reshape(-1)
  order = np.argsort(inverse, kind="stable")
  bounds = np.searchsorted(inverse[order], np.arange(len(unique) + 1))
  for j, obs in enumerate(unique):
    yield obs, order[bounds[j]:bounds[j + 1]]


def _conditional(mu: np.ndarray, sigma: np.ndarray, obs: np.ndarray,
                 z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Conditional mean ``[rows, |u|]`` and covariance ``[|u|, |u|]`` of the missing
  columns ``u = ~obs`` given the observed ones, and each row's observed-data
  log-density ``[rows]``."""
  o, u = obs, ~obs
  if not o.any():
    return np.broadcast_to(mu, z.shape).copy(), sigma.copy(), np.zeros(len(z))
  factor = scipy.linalg.cho_factor(sigma[np.ix_(o, o)], lower=True)
  resid = z[:, o] - mu[o]
  white = scipy.linalg.cho_solve(factor, resid.T)            # Sigma_oo^-1 r, [|o|, rows]
  logdet = 2.0 * np.log(np.diag(factor[0])).sum()
  logpdf = -0.5 * (o.sum() * np.log(2 * np.pi) + logdet
                   + np.einsum("ij,ji->i", resid, white))
  gain = scipy.linalg.cho_solve(factor, sigma[np.ix_(o, u)])  # Sigma_oo^-1 Sigma_ou
  mean = mu[u] + white.T @ sigma[np.ix_(o, u)]
  cond = sigma[np.ix_(u, u)] - sigma[np.ix_(u, o)] @ gain
  return mean, cond, logpdf


def _em_step(mu: np.ndarray, sigma: np.ndarray, z: np.ndarray, m: np.ndarray,
             patterns: list, ridge: float) -> tuple[np.ndarray, np.ndarray, float]:
  """One EM iteration from ``(mu, sigma)``; also returns the penalised
  log-likelihood per row at ``(mu, sigma)``."""
  n, d = z.shape
  filled = z.copy()
  extra = np.zeros((d, d))      # sum over rows of the conditional covariances
  loglik = 0.0
  for obs, rows in patterns:
    mean, cond, logpdf = _conditional(mu, sigma, obs, z[rows])
    loglik += logpdf.sum()
    if not obs.all():
      filled[np.ix_(rows, ~obs)] = mean
      extra[np.ix_(~obs, ~obs)] += len(rows) * cond
  penalty = 0.5 * ridge * np.trace(np.linalg.inv(sigma))
  new_mu = filled.mean(0)
  centred = filled - new_mu
  new_sigma = (centred.T @ centred + extra) / n + ridge * np.eye(d)
  return new_mu, 0.5 * (new_sigma + new_sigma.T), loglik / n - penalty


def fit(train: Split, *, seed: int = 0, max_iter: int = 100, tol: float = 1e-6,
        ridge: float = 1e-3, max_fit_rows: int | None = 20000) -> EMModel:
  """Fits a Gaussian to the training split's observed entries by EM.

  Args:
    train: placeholder-filled training split with its mask (``m``: 1 observed).
    seed: draws the fitting subsample when the split has more than
      ``max_fit_rows`` rows.
    max_iter: at most this many EM iterations.
    tol: stop once an iteration improves the penalised log-likelihood per row by
      less than ``tol``.
    ridge: added to the diagonal of the standardised covariance at every M-step
      (> 0 keeps it invertible; a fraction of each column's variance).
    max_fit_rows: fit on a seeded subsample of this many rows; ``None`` = all.

  Returns:
    An :class:`EMModel`.

  Raises:
    ValueError: a bad option, or a column with no observed training value (its
      mean and variance are unknown: drop such columns first, e.g.
      ``prepare_tabular(..., drop_all_missing_columns=True)``).
  """
  if not ridge > 0:
    raise ValueError(f"ridge must be > 0, got {ridge}")
  if max_iter < 1:
    raise ValueError(f"max_iter must be >= 1, got {max_iter}")
  if not tol >= 0:
    raise ValueError(f"tol must be >= 0, got {tol}")
  m = np.asarray(train.m) > 0
  x = np.asarray(train.x, np.float64)
  if x.ndim != 2 or m.shape != x.shape or len(x) == 0:
    raise ValueError(f"EM needs a non-empty [n, d] split with its mask, got x "
                     f"{x.shape}, m {m.shape}")
  if max_fit_rows is not None:
    if max_fit_rows < 1:
      raise ValueError(f"max_fit_rows must be >= 1 or None, got {max_fit_rows}")
    if len(x) > max_fit_rows:
      keep = np.sort(np.random.default_rng([seed, 2]).choice(
          len(x), size=max_fit_rows, replace=False))
      x, m = x[keep], m[keep]
  center, scale = masked_moments(x, m, "EM")
  z, m = _standardised(Split(x=x, m=m, y=np.zeros(len(x))), center, scale)
  patterns = list(_patterns(m))
  # Start from the mean-imputed covariance: zeros are the observed means here.
  mu = np.zeros(x.shape[1])
  sigma = z.T @ z / len(z) + ridge * np.eye(x.shape[1])
  objective = []
  for _ in range(max_iter):
    mu, sigma, value = _em_step(mu, sigma, z, m, patterns, ridge)
    if not np.isfinite(value):
      raise FloatingPointError("EM: the log-likelihood became non-finite; raise ridge")
    objective.append(value)
    if len(objective) > 1 and objective[-1] - objective[-2] < tol:
      break
  return EMModel(mu=mu, sigma=sigma, center=center, scale=scale,
                 objective=np.asarray(objective))
