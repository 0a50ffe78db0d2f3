"""Imputation baselines: kNN, MICE, missForest-style and GAIN; EM and MIWAE
(:mod:`gil_jax.baselines.em`, :mod:`gil_jax.baselines.miwae`) registered here.

Every imputer is fitted on the TRAINING split only and then applied, unchanged, to
the training, validation and test splits, so no statistic of the evaluation data leaks
into the inputs a predictor is trained or scored on.  The splits are the placeholder-
filled :class:`gil_jax.data.Split` s of :func:`gil_jax.data.prepare_tabular`; an
imputer reads the missing entries from the mask ``m`` (never from the placeholder) and
returns new splits whose ``x`` holds imputed values there.  Observed entries are copied
bit for bit, ``m`` and ``y`` are returned as they came (a predictor may still use the
mask), and the result holds no NaN.

``IMPUTERS`` maps a name to a function of the uniform signature
``(train, val, test, *, seed, **options) -> (train, val, test)``; :func:`impute` does
the same for a whole :class:`gil_jax.data.Prepared`.  ``FITTERS`` (``fit_knn``,
``fit_mice``, ...) return the fitted imputer itself (:class:`FittedImputer`), which
:func:`apply_imputer` applies to any other split (e.g. an external test set) and
:func:`save` / :func:`load` keep on disk (skops, safe to load).  :func:`imputation_mse` scores an
imputation where the true values are known (paper sec. 4.5, Table 4).

Cost on MNIST (60k x 784) is what shapes the defaults; the paper itself left kNN and
missForest out there because they "cannot be produced within days" (App. D.3):

* kNN transforms every row against the fitting set, O(n x n_fit x d): the fitting set
  is a seeded uniform subsample of ``max_fit_rows`` training rows (5,000 by default).
* MICE / missForest run one regression per column and round: both fit on a seeded
  subsample of training rows, regress each column on its ``n_nearest_features`` most
  correlated columns only, and stop after ``max_iter`` rounds.  missForest's trees are
  shallow and few, because ``IterativeImputer`` keeps every round's estimators for
  ``transform`` (784 columns x rounds x trees).
* GAIN trains on all training rows on the accelerator in one jitted ``lax.scan``.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer
from sklearn.linear_model import BayesianRidge

from gil_jax.baselines import em, miwae, persist
from gil_jax.data import Prepared, Split

Splits = tuple[Split, Split, Split]
_SHAPES = {2: "[n, d]", 3: "[n, T, d] (sequences)"}


# --------------------------------------------------------------------- plumbing


def _check_splits(train: Split, val: Split, test: Split, rank: int = 2) -> None:
  """Raises ``ValueError`` naming the first problem with the three splits
  (tables ``[n, d]``, or sequences ``[n, T, d]`` for ``rank=3``)."""
  d = None
  for name, s in (("train", train), ("val", val), ("test", test)):
    x, m = np.asarray(s.x), np.asarray(s.m)
    if x.ndim != rank:
      raise ValueError(f"{name}.x must have shape {_SHAPES[rank]}, got {x.shape}")
    if m.shape != x.shape:
      raise ValueError(f"{name}.m has shape {m.shape}, {name}.x {x.shape}")
    if d is None:
      d = x.shape[-1]
    elif x.shape[-1] != d:
      raise ValueError(f"{name} has {x.shape[-1]} columns, train has {d}")
    if not np.all((m == 0) | (m == 1)):
      raise ValueError(f"{name}.m must hold only 0 (missing) and 1 (observed)")
    if not np.all(np.isfinite(x[m > 0])):
      raise ValueError(f"{name}.x holds NaN/inf at observed entries")
  if len(train.x) == 0:
    raise ValueError("the training split is empty")
  if not np.asarray(train.m).any():
    raise ValueError("the training split has no observed entry to fit an imputer on")


def _with_nan(split: Split) -> np.ndarray:
  """float64 ``x`` with NaN at missing entries (the scikit-learn convention)."""
  return np.where(np.asarray(split.m) > 0, np.asarray(split.x, np.float64), np.nan)


def _filled(split: Split, imputed: np.ndarray, what: str) -> Split:
  """``split`` with ``imputed`` written into its missing entries only."""
  imputed = np.asarray(imputed, np.float32)
  # Observed entries are taken from split.x itself, so they stay bit-for-bit equal.
  x = np.where(np.asarray(split.m) > 0, np.asarray(split.x, np.float32), imputed)
  if not np.all(np.isfinite(x)):
    raise FloatingPointError(f"{what} left {int((~np.isfinite(x)).sum())} "
                             "non-finite values")
  return split._replace(x=x)


def _fit_rows(n: int, max_fit_rows: int | None, seed: int) -> np.ndarray:
  """Indices of the training rows an imputer is fitted on: all, or a seeded subsample."""
  if max_fit_rows is None or max_fit_rows >= n:
    return np.arange(n)
  if max_fit_rows < 1:
    raise ValueError(f"max_fit_rows must be >= 1 or None, got {max_fit_rows}")
  rng = np.random.default_rng([seed, 2])
  return np.sort(rng.choice(n, size=max_fit_rows, replace=False))


class FittedImputer(NamedTuple):
  """An imputer fitted on a training split, to apply to any split of that width.

  ``model`` is the fitted scikit-learn imputer, or a :class:`GainModel`; ``seed``
  fixes GAIN's noise (see :func:`apply_imputer`).  Saved with :func:`save` and
  read back with :func:`load` for external evaluation.
  """
  method: str
  model: Any
  seed: int


def _fit_sklearn(method: str, imputer, train: Split, *, max_fit_rows: int | None,
                 seed: int) -> FittedImputer:
  _check_splits(train, train, train)
  x_train = _with_nan(train)
  with warnings.catch_warnings():
    # max_iter is bounded on purpose (see the module docstring); stopping there is
    # expected, not a fault to report on every call.
    warnings.simplefilter("ignore", ConvergenceWarning)
    imputer.fit(x_train[_fit_rows(len(x_train), max_fit_rows, seed)])
  return FittedImputer(method=method, model=imputer, seed=seed)


_WHAT = {"knn": "kNN imputation", "mice": "MICE imputation",
         "missforest": "missForest imputation", "gain": "GAIN imputation"}
# GAIN's noise stream of each split (the training, validation and test split of a
# run; another set is imputed with the test split's stream).
_PARTS = {"train": 0, "val": 1, "test": 2}


def apply_imputer(fitted: FittedImputer, split: Split, part: str = "test"
                  ) -> Split:
  """``split`` with its missing entries imputed by a fitted imputer.

  Args:
    fitted: from a ``fit_*`` function (or :func:`load`).
    split: placeholder-filled split with mask, of the fitted width.
    part: ``"train"``, ``"val"`` or ``"test"``: which of GAIN's (MIWAE's) noise streams
      (derived from ``fitted.seed``) to use; the scikit-learn imputers ignore it.

  Returns:
    The split with ``x`` imputed at missing entries; ``m``, ``y`` unchanged.
  """
  if fitted.method in NETWORK_IMPUTERS:
    return NETWORK_IMPUTERS[fitted.method].impute(fitted.model, split)
  x = np.asarray(split.x)
  own = isinstance(fitted.model, MODELS)
  width = (fitted.model.width if own else
           fitted.model.lo.shape[0] if isinstance(fitted.model, GainModel)
           else fitted.model.n_features_in_)
  if x.ndim != 2 or x.shape[1] != width:
    raise ValueError(f"the {fitted.method} imputer was fitted on {width} columns; "
                     f"got data of shape {x.shape}")
  if own or isinstance(fitted.model, GainModel):
    keys = jax.random.split(jax.random.fold_in(jax.random.key(fitted.seed), 1), 3)
    if not own:
      return gain_impute(fitted.model, split, keys[_PARTS[part]])
    return _filled(split, fitted.model.impute(split, keys[_PARTS[part]]),
                   f"{fitted.method} imputation")
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    imputed = fitted.model.transform(_with_nan(split))
  return _filled(split, imputed, _WHAT[fitted.method])


def _impute_splits(fit_fn: Callable[..., FittedImputer], train: Split, val: Split,
                   test: Split, seed: int, options: dict, rank: int = 2) -> Splits:
  _check_splits(train, val, test, rank)
  fitted = fit_fn(train, seed=seed, **options)
  return tuple(apply_imputer(fitted, s, part)
               for s, part in zip((train, val, test), _PARTS))


def _n_nearest(n_nearest_features: int | None, d: int) -> int | None:
  if n_nearest_features is None:
    return None
  if n_nearest_features < 1:
    raise ValueError(f"n_nearest_features must be >= 1 or None, got "
                     f"{n_nearest_features}")
  # IterativeImputer regresses each column on the others: at most d - 1 of them.
  return None if n_nearest_features >= d - 1 else int(n_nearest_features)


# ------------------------------------------------------------ scikit-learn imputers


def fit_knn(train: Split, *, seed: int = 0, n_neighbors: int = 5,
            weights: str = "uniform", max_fit_rows: int | None = 5000
            ) -> FittedImputer:
  """k-nearest-neighbour imputation (``sklearn.impute.KNNImputer``).

  A missing entry is the mean (or distance-weighted mean) of that column over the
  ``n_neighbors`` nearest donor rows that observe it, with the NaN-aware Euclidean
  distance over commonly observed columns.

  Args:
    train: placeholder-filled training split with mask.
    seed: draws the fitting subsample.
    n_neighbors: number of donors.
    weights: ``"uniform"`` or ``"distance"``.
    max_fit_rows: donors are a uniform random subsample (without replacement, fixed
      by ``seed``) of this many training rows; ``None`` uses all.  Transform costs
      O(rows x max_fit_rows x d), hence the bound for MNIST.

  Returns:
    The fitted imputer (:func:`apply_imputer`).
  """
  imputer = KNNImputer(n_neighbors=n_neighbors, weights=weights,
                       keep_empty_features=True)
  return _fit_sklearn("knn", imputer, train, max_fit_rows=max_fit_rows, seed=seed)


def knn(train: Split, val: Split, test: Split, *, seed: int = 0,
        **options) -> Splits:
  """:func:`fit_knn` on ``train`` (``options`` go there), applied to all three
  splits; returns ``(train, val, test)`` with missing entries imputed."""
  return _impute_splits(fit_knn, train, val, test, seed, options)


def fit_mice(train: Split, *, seed: int = 0, max_iter: int = 5, n_nearest_features: int | None = 20,
         max_fit_rows: int | None = 10000, sample_posterior: bool = False,
         tol: float = 1e-3, skip_complete: bool = False,
         clip: bool = False) -> Splits:
  """MICE: chained Bayesian ridge regressions (``IterativeImputer``).

  Starting from mean imputation, each column with missing values is regressed in
  turn on the current values of the others, ``max_iter`` rounds (van Buuren &
  Groothuis-Oudshoorn, 2011).  This is single imputation with the posterior mean
  unless ``sample_posterior`` (one draw, not the pooled multiple imputation of full
  MICE).

  What makes 784 columns tractable: each column is regressed on only its
  ``n_nearest_features`` most correlated columns (drawn with probability
  proportional to the absolute correlation of the initial imputation), the fitting set
  is a seeded subsample of ``max_fit_rows`` training rows, and ``max_iter`` is small.

  Args:
    train: placeholder-filled training split with mask.
    seed: fitting subsample and ``IterativeImputer``'s random state.
    max_iter: imputation rounds.
    n_nearest_features: predictors per column; ``None`` uses all.
    max_fit_rows: size of the fitting subsample; ``None`` uses all training rows.
    sample_posterior: draw from each regression's predictive posterior.
    tol: early-stopping tolerance of ``IterativeImputer``.
    skip_complete: skip columns with no missing training value (faster when a region
      is always observed, as in MAR; such columns are then mean-imputed elsewhere).
    clip: keep each imputed value within the column's observed training range
      (linear regressions otherwise extrapolate, e.g. far outside [0, 1] for
      pixels); constant or never observed columns stay unbounded.

  Returns:
    The fitted imputer (:func:`apply_imputer`).
  """
  d = np.asarray(train.x).shape[-1]
  bounds = {}
  if clip:
    observed = np.asarray(train.m) > 0
    x = np.asarray(train.x, np.float64)
    lo = np.where(observed, x, np.inf).min(0)
    hi = np.where(observed, x, -np.inf).max(0)
    # scikit-learn needs min < max: a constant (or never observed) column stays
    # unbounded; its regression predicts the constant anyway.
    ranged = hi > lo
    bounds = dict(min_value=np.where(ranged, lo, -np.inf),
                  max_value=np.where(ranged, hi, np.inf))
  imputer = IterativeImputer(
      estimator=BayesianRidge(), max_iter=max_iter, tol=tol,
      n_nearest_features=_n_nearest(n_nearest_features, d),
      sample_posterior=sample_posterior, skip_complete=skip_complete,
      random_state=seed, keep_empty_features=True, **bounds)
  return _fit_sklearn("mice", imputer, train, max_fit_rows=max_fit_rows, seed=seed)


def mice(train: Split, val: Split, test: Split, *, seed: int = 0,
         **options) -> Splits:
  """:func:`fit_mice` on ``train`` (``options`` go there), applied to all three
  splits; returns ``(train, val, test)`` with missing entries imputed."""
  return _impute_splits(fit_mice, train, val, test, seed, options)


def fit_missforest(train: Split, *, seed: int = 0, max_iter: int = 3, n_estimators: int = 10, max_depth: int | None = 6,
               min_samples_leaf: int = 5, n_nearest_features: int | None = 20,
               max_fit_rows: int | None = 5000, forest: str = "extra_trees",
               n_jobs: int | None = None, skip_complete: bool = False) -> Splits:
  """missForest-style imputation: chained tree-ensemble regressions.

  missForest (Stekhoven & Buehlmann, 2012) iterates random-forest regressions of each
  column on the others; here the same loop runs in ``IterativeImputer`` with a small
  ``ExtraTreesRegressor`` (or ``RandomForestRegressor``).  Bounded for MNIST: few,
  shallow trees (``IterativeImputer`` stores all ``columns x max_iter`` ensembles;
  depth 6 keeps that to a few hundred MB for 784 columns), ``n_nearest_features``
  predictors per column, a seeded fitting subsample and few rounds; missForest's own
  stopping rule is replaced by ``max_iter``.

  Args:
    train: placeholder-filled training split with mask.
    seed: fitting subsample, forests and ``IterativeImputer``'s random state.
    max_iter: imputation rounds.
    n_estimators: trees per ensemble.
    max_depth: tree depth bound (``None`` = unbounded).
    min_samples_leaf: leaf-size bound.
    n_nearest_features: predictors per column; ``None`` uses all.
    max_fit_rows: size of the fitting subsample; ``None`` uses all training rows.
    forest: ``"extra_trees"`` or ``"random_forest"``.
    n_jobs: parallel tree fitting (scikit-learn's convention).
    skip_complete: as in :func:`fit_mice`.

  Returns:
    The fitted imputer (:func:`apply_imputer`).
  """
  forests = {"extra_trees": ExtraTreesRegressor,
             "random_forest": RandomForestRegressor}
  if forest not in forests:
    raise ValueError(f"forest must be one of {sorted(forests)}, got {forest!r}")
  d = np.asarray(train.x).shape[-1]
  estimator = forests[forest](n_estimators=n_estimators, max_depth=max_depth,
                              min_samples_leaf=min_samples_leaf, n_jobs=n_jobs,
                              random_state=seed)
  imputer = IterativeImputer(
      estimator=estimator, max_iter=max_iter,
      n_nearest_features=_n_nearest(n_nearest_features, d),
      skip_complete=skip_complete, random_state=seed, keep_empty_features=True)
  return _fit_sklearn("missforest", imputer, train, max_fit_rows=max_fit_rows,
                      seed=seed)


def missforest(train: Split, val: Split, test: Split, *, seed: int = 0,
               **options) -> Splits:
  """:func:`fit_missforest` on ``train`` (``options`` go there), applied to all
  three splits; returns ``(train, val, test)`` with missing entries imputed."""
  return _impute_splits(fit_missforest, train, val, test, seed, options)


# ------------------------------------------------------------------------- GAIN


class _GainNet(nn.Module):
  """GAIN's generator / discriminator: two ReLU layers and a per-entry output.

  Glorot-normal initialisation as in the reference implementation.
  """
  hidden: int
  features: int

  @nn.compact
  def __call__(self, v: jax.Array, cond: jax.Array) -> jax.Array:
    init = nn.initializers.glorot_normal()
    h = jnp.concatenate([v, cond], axis=-1)
    h = nn.relu(nn.Dense(self.hidden, kernel_init=init)(h))
    h = nn.relu(nn.Dense(self.hidden, kernel_init=init)(h))
    return nn.Dense(self.features, kernel_init=init)(h)  # logits


class GainModel(NamedTuple):
  """A fitted GAIN generator and the training split's min-max scaling."""
  generator: Any           # Flax params of the generator
  hidden: int
  lo: np.ndarray           # [d] observed training minimum per column
  scale: np.ndarray        # [d] observed training range per column (1 if empty)
  d_loss: np.ndarray       # [num_steps] discriminator loss per step
  g_mse: np.ndarray        # [num_steps] reconstruction MSE on observed entries


_NOISE = 0.01  # missing entries enter the generator as U(0, 0.01) noise (Yoon et al.)


def _generator_input(key: jax.Array, x: jax.Array, m: jax.Array) -> jax.Array:
  z = jax.random.uniform(key, x.shape, x.dtype, 0.0, _NOISE)
  return m * x + (1.0 - m) * z


@functools.lru_cache(maxsize=16)
def _gain_trainer(d: int, hidden: int, batch_size: int, num_steps: int,
                  alpha: float, hint_rate: float, learning_rate: float) -> Callable:
  """The jitted GAIN training loop for one configuration (cached: compiled once)."""
  net = _GainNet(hidden=hidden, features=d)
  tx = optax.adam(learning_rate)

  def d_loss_fn(d_params, x_hat, h, m):
    logits = net.apply(d_params, x_hat, h)
    # D predicts which entries were observed: -E[m log D + (1-m) log(1-D)].
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, m))

  def g_loss_fn(g_params, d_params, x_tilde, x, m, h):
    g = jax.nn.sigmoid(net.apply(g_params, x_tilde, m))
    x_hat = m * x + (1.0 - m) * g
    logits = net.apply(d_params, x_hat, h)
    # Adversarial term on imputed entries only: -E[(1-m) log D(x_hat, h)].
    adv = jnp.mean((1.0 - m) * -jax.nn.log_sigmoid(logits))
    mse = jnp.mean((m * x - m * g) ** 2) / jnp.maximum(jnp.mean(m), 1e-8)
    return adv + alpha * mse, mse

  def step(carry, _):
    g_params, d_params, g_opt, d_opt, key, x_all, m_all = carry
    key, k_idx, k_z, k_hint = jax.random.split(key, 4)
    idx = jax.random.randint(k_idx, (batch_size,), 0, x_all.shape[0])
    x, m = x_all[idx], m_all[idx]
    x_tilde = _generator_input(k_z, x, m)
    # Hint (Yoon et al. 2018, sec. 4): h = b*m + 0.5*(1-b), b ~ Bernoulli(hint_rate),
    # reveals part of the mask so that D's optimum identifies the data distribution.
    b = jax.random.bernoulli(k_hint, hint_rate, m.shape).astype(m.dtype)
    h = b * m + 0.5 * (1.0 - b)

    g = jax.nn.sigmoid(net.apply(g_params, x_tilde, m))
    x_hat = jax.lax.stop_gradient(m * x + (1.0 - m) * g)
    d_loss, d_grads = jax.value_and_grad(d_loss_fn)(d_params, x_hat, h, m)
    d_upd, d_opt = tx.update(d_grads, d_opt, d_params)
    d_params = optax.apply_updates(d_params, d_upd)

    (_, mse), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
        g_params, d_params, x_tilde, x, m, h)
    g_upd, g_opt = tx.update(g_grads, g_opt, g_params)
    g_params = optax.apply_updates(g_params, g_upd)
    return (g_params, d_params, g_opt, d_opt, key, x_all, m_all), (d_loss, mse)

  def train(key, x_all, m_all):
    chex.assert_rank(x_all, 2)
    chex.assert_equal_shape([x_all, m_all])
    key, k_g, k_d = jax.random.split(key, 3)
    dummy = jnp.zeros((1, d), jnp.float32)
    g_params = net.init(k_g, dummy, dummy)
    d_params = net.init(k_d, dummy, dummy)
    carry = (g_params, d_params, tx.init(g_params), tx.init(d_params), key,
             x_all, m_all)
    carry, (d_losses, mses) = jax.lax.scan(step, carry, None, length=num_steps)
    return carry[0], d_losses, mses

  return jax.jit(train)


@functools.lru_cache(maxsize=16)
def _gain_generator(d: int, hidden: int) -> Callable:
  net = _GainNet(hidden=hidden, features=d)

  def generate(params, key, x, m):
    return jax.nn.sigmoid(net.apply(params, _generator_input(key, x, m), m))

  return jax.jit(generate)


def _minmax(split: Split) -> tuple[np.ndarray, np.ndarray]:
  """Observed training minimum and range per column (range 1 where there is none)."""
  x = _with_nan(split)
  empty = np.isnan(x).all(axis=0)
  safe = np.where(empty[None, :], 0.0, x)  # avoids all-NaN warnings; fixed below
  lo = np.nanmin(safe, axis=0)
  hi = np.nanmax(safe, axis=0)
  lo = np.where(empty, 0.0, lo)
  scale = np.where(empty | (hi <= lo), 1.0, hi - lo)
  return lo.astype(np.float32), scale.astype(np.float32)


def _normalised(split: Split, lo: np.ndarray, scale: np.ndarray
                ) -> tuple[jax.Array, jax.Array]:
  m = np.asarray(split.m, np.float32)
  x = np.where(m > 0, (np.asarray(split.x, np.float32) - lo) / scale, 0.0)
  return jnp.asarray(x, jnp.float32), jnp.asarray(m)


def fit_gain(train: Split, *, seed: int = 0, alpha: float = 100.0,
             hint_rate: float = 0.9, batch_size: int = 128, num_steps: int = 10000,
             learning_rate: float = 1e-3, hidden: int | None = None) -> GainModel:
  """Trains GAIN (Yoon, Jordon & van der Schaar, ICML 2018) on the training split.

  Data are min-max scaled per column with the observed training entries.  The
  generator sees ``x_tilde = m*x + (1-m)*z`` (``z ~ U(0, 0.01)``) and the mask and
  outputs ``G in [0,1]^d``; the imputed sample is ``x_hat = m*x + (1-m)*G``.  The
  discriminator sees ``x_hat`` and the hint ``h = b*m + 0.5*(1-b)``,
  ``b ~ Bernoulli(hint_rate)``, and predicts ``m``.  Per step (one minibatch): one
  Adam step on ``L_D = -E[m log D + (1-m) log(1-D)]``, then one on
  ``L_G = -E[(1-m) log D] + alpha * E[(m*x - m*G)^2] / E[m]``.  All ``num_steps``
  steps run in one jitted ``lax.scan`` on the default device.

  Args:
    train: the placeholder-filled training split with its mask.
    seed: initialisation, minibatches, noise and hints; the same seed gives the same
      model on the same device.
    alpha: weight of the reconstruction loss (the paper searched {0.1, 1, 10, 100},
      App. D.3; 100 is the reference implementation's default).
    hint_rate: probability that a hint entry reveals the mask.
    batch_size: minibatch size (drawn with replacement).
    num_steps: training iterations.
    learning_rate: Adam learning rate of both networks.
    hidden: width of both hidden layers (default ``d``, as in the reference code).

  Returns:
    A :class:`GainModel`.
  """
  x = np.asarray(train.x)
  if x.ndim != 2:
    raise ValueError(f"train.x must have shape [n, d], got {x.shape}")
  if not alpha >= 0:
    raise ValueError(f"alpha must be >= 0, got {alpha}")
  if not 0.0 <= hint_rate <= 1.0:
    raise ValueError(f"hint_rate must lie in [0, 1], got {hint_rate}")
  if batch_size < 1 or num_steps < 1:
    raise ValueError(f"batch_size and num_steps must be >= 1, got {batch_size}, "
                     f"{num_steps}")
  d = x.shape[1]
  hidden = d if hidden is None else int(hidden)
  if hidden < 1:
    raise ValueError(f"hidden must be >= 1, got {hidden}")
  lo, scale = _minmax(train)
  xn, m = _normalised(train, lo, scale)
  trainer = _gain_trainer(d, hidden, int(batch_size), int(num_steps), float(alpha),
                          float(hint_rate), float(learning_rate))
  params, d_losses, mses = trainer(jax.random.key(seed), xn, m)
  return GainModel(generator=jax.device_get(params), hidden=hidden, lo=lo,
                   scale=scale, d_loss=np.asarray(d_losses), g_mse=np.asarray(mses))


def gain_impute(model: GainModel, split: Split, key: jax.Array,
                batch: int = 8192) -> Split:
  """``split`` with its missing entries replaced by the GAIN generator's output.

  Rows are processed in chunks of ``batch``; each row's noise depends only on
  ``key``, its position and the number of rows, so a row's imputation does not
  depend on the other rows' values.
  """
  d = model.lo.shape[0]
  if np.asarray(split.x).shape[-1] != d:
    raise ValueError(f"GAIN was fitted on {d} columns, split has "
                     f"{np.asarray(split.x).shape[-1]}")
  generate = _gain_generator(d, model.hidden)
  xn, m = _normalised(split, model.lo, model.scale)
  n = xn.shape[0]
  noise_keys = jax.random.split(key, max(1, -(-n // batch)))
  out = [np.asarray(generate(model.generator, noise_keys[j], xn[i:i + batch],
                             m[i:i + batch]))
         for j, i in enumerate(range(0, n, batch))]
  g = np.concatenate(out, 0) if out else np.zeros((0, d), np.float32)
  return _filled(split, g * model.scale + model.lo, "GAIN imputation")


def fit_gain_imputer(train: Split, *, seed: int = 0, **options) -> FittedImputer:
  """:func:`fit_gain` as a :class:`FittedImputer` (``options`` go to it)."""
  _check_splits(train, train, train)
  return FittedImputer(method="gain", model=fit_gain(train, seed=seed, **options),
                       seed=seed)


def gain(train: Split, val: Split, test: Split, *, seed: int = 0,
         **options) -> Splits:
  """GAIN imputation: :func:`fit_gain` on ``train`` (``options`` go there), then
  :func:`gain_impute` on each split with noise keys derived from ``seed``."""
  return _impute_splits(fit_gain_imputer, train, val, test, seed, options)


# ------------------------------------------- imputers with a module of their own

# Fitted models that impute by themselves: ``width``, ``impute(split, key)`` (the
# split's ``x`` with missing entries imputed), ``state()`` and
# ``from_state(state)`` for saving; ``kind`` names them in saved files.
MODELS = (em.EMModel, miwae.MiwaeModel)


def _own_fitter(method: str, fit: Callable[..., Any]) -> Callable[..., FittedImputer]:
  """``fit(train, *, seed, **options) -> model`` as a :class:`FittedImputer` fitter."""
  def fit_imputer(train: Split, *, seed: int = 0, **options) -> FittedImputer:
    _check_splits(train, train, train)
    return FittedImputer(method=method, model=fit(train, seed=seed, **options),
                         seed=seed)
  fit_imputer.__doc__ = f"{fit.__module__}.fit as a FittedImputer."
  return fit_imputer


def _splits_imputer(fitter: Callable[..., FittedImputer]) -> Callable[..., Splits]:
  """A fitter as ``(train, val, test, *, seed, **options) -> (train, val, test)``."""
  return lambda train, val, test, *, seed=0, **options: _impute_splits(
      fitter, train, val, test, seed, options)


fit_em = _own_fitter("em", em.fit)
fit_miwae = _own_fitter("miwae", miwae.fit)


# ---------------------------------------------------------------------- registry


IMPUTERS: dict[str, Callable[..., Splits]] = {
    "knn": knn,
    "mice": mice,
    "missforest": missforest,
    "gain": gain,
    "em": _splits_imputer(fit_em),
    "miwae": _splits_imputer(fit_miwae),
}
# The same imputers as (train, *, seed, **options) -> FittedImputer.
FITTERS: dict[str, Callable[..., FittedImputer]] = {
    "knn": fit_knn,
    "mice": fit_mice,
    "missforest": fit_missforest,
    "gain": fit_gain_imputer,
    "em": fit_em,
    "miwae": fit_miwae,
}


class NetworkImputer(NamedTuple):
  """An imputer defined in a module of its own (e.g. GP-VAE), registered with
  :func:`register_imputer`.

  Attributes:
    fit: ``(train, *, seed, **options) -> model``, fitted on the training split.
    impute: ``(model, split) -> split`` with the missing entries filled.
    to_state, from_state: the model as plain data (dicts, arrays, numbers,
      lists) for :mod:`persist`, and back.
    sequences: whether it imputes sequences ``[n, T, d]`` (else tables).
  """
  fit: Callable[..., Any]
  impute: Callable[[Any, Split], Split]
  to_state: Callable[[Any], dict]
  from_state: Callable[[dict], Any]
  sequences: bool = False


NETWORK_IMPUTERS: dict[str, NetworkImputer] = {}


def _rank(method: str) -> int:
  kind = NETWORK_IMPUTERS.get(method)
  return 3 if kind is not None and kind.sequences else 2


def register_imputer(name: str, imputer: NetworkImputer) -> None:
  """Makes ``name`` an imputer of :data:`IMPUTERS` / :data:`FITTERS` (a
  launcher transform), saved and applied like the built-in ones."""
  if not isinstance(imputer, NetworkImputer):
    raise TypeError(f"imputer {name!r} needs a NetworkImputer, got "
                    f"{type(imputer).__name__}")
  rank = 3 if imputer.sequences else 2

  def fit(train: Split, *, seed: int = 0, **options) -> FittedImputer:
    _check_splits(train, train, train, rank)
    return FittedImputer(method=name, model=imputer.fit(train, seed=seed, **options),
                         seed=seed)

  def impute_splits(train: Split, val: Split, test: Split, *, seed: int = 0,
                    **options) -> Splits:
    return _impute_splits(fit, train, val, test, seed, options, rank)

  NETWORK_IMPUTERS[name] = imputer
  FITTERS[name] = fit
  IMPUTERS[name] = impute_splits


def impute_fitted(prepared: Prepared, method: str, *, seed: int = 0,
                  **options) -> tuple[Prepared, FittedImputer]:
  """``prepared`` with all three splits imputed by ``method``, and the imputer.

  The imputer is fitted on ``prepared.train`` only.  ``train_mean``, the masks and
  the summary are kept; the summary gains an ``"imputer"`` entry.
  """
  if method not in FITTERS:
    raise ValueError(f"unknown imputer {method!r}; choose from {sorted(FITTERS)}")
  _check_splits(prepared.train, prepared.val, prepared.test, _rank(method))
  fitted = FITTERS[method](prepared.train, seed=seed, **options)
  train, val, test = (apply_imputer(fitted, s, part) for s, part in
                      zip((prepared.train, prepared.val, prepared.test), _PARTS))
  summary = dict(prepared.summary, imputer={"method": method, "seed": seed,
                                            **options})
  return (prepared._replace(train=train, val=val, test=test, summary=summary),
          fitted)


def impute(prepared: Prepared, method: str, *, seed: int = 0,
           **options) -> Prepared:
  """``prepared`` with all three splits imputed by ``method`` (fitted on the
  training split only); see :func:`impute_fitted`."""
  return impute_fitted(prepared, method, seed=seed, **options)[0]


# ------------------------------------------------------------- saving, loading


def to_state(fitted: FittedImputer) -> dict:
  """A fitted imputer as plain data (dicts, arrays, scikit-learn objects) that
  :mod:`gil_jax.baselines.persist` writes safely; :func:`from_state` inverts it."""
  model = fitted.model
  if fitted.method in NETWORK_IMPUTERS:
    model = NETWORK_IMPUTERS[fitted.method].to_state(model)
  elif isinstance(model, MODELS):
    model = {model.kind: model.state()}
  elif isinstance(model, GainModel):   # arrays and numbers, no custom class
    model = {"gain": {"generator": jax.tree.map(np.asarray, model.generator),
                      "hidden": int(model.hidden), "lo": model.lo,
                      "scale": model.scale, "d_loss": model.d_loss,
                      "g_mse": model.g_mse}}
  return {"method": fitted.method, "seed": int(fitted.seed), "model": model}


def from_state(state: dict) -> FittedImputer:
  """The :class:`FittedImputer` of :func:`to_state`'s output."""
  model = state["model"]
  own = {cls.kind: cls for cls in MODELS}
  if state["method"] in NETWORK_IMPUTERS:
    model = NETWORK_IMPUTERS[state["method"]].from_state(model)
  elif isinstance(model, dict) and len(model) == 1 and next(iter(model)) in own:
    kind, saved = next(iter(model.items()))
    model = own[kind].from_state(saved)
  elif isinstance(model, dict) and "gain" in model:
    g = model["gain"]
    model = GainModel(generator=g["generator"], hidden=int(g["hidden"]), lo=g["lo"],
                      scale=g["scale"], d_loss=g["d_loss"], g_mse=g["g_mse"])
  return FittedImputer(method=state["method"], model=model, seed=int(state["seed"]))


def save(fitted: FittedImputer, path: str) -> None:
  """Writes a fitted imputer with skops (safe to load; see :mod:`persist`)."""
  persist.dump(to_state(fitted), path)


def load(path: str) -> FittedImputer:
  """Reads what :func:`save` wrote."""
  return from_state(persist.load(path))


def imputation_mse(imputed_x: np.ndarray, true_x: np.ndarray,
                   mask: np.ndarray) -> float:
  """Mean squared imputation error over the missing entries whose truth is known.

  Averages ``(imputed_x - true_x)^2`` over entries with ``mask == 0`` (missing) and a
  finite ``true_x`` (NaN there marks a value that was never observed, e.g. missing
  in the raw data rather than masked by simulation).  ``true_x`` must be on the same
  scale as ``imputed_x`` (the :class:`Split`'s scaling).  Used for the
  imputation-error / accuracy correlation of the paper (sec. 4.5, Table 4).

  Args:
    imputed_x: ``[n, d]`` imputed data.
    true_x: ``[n, d]`` complete data (NaN = unknown).
    mask: ``[n, d]`` observation mask, 1 = observed, 0 = missing.

  Returns:
    The mean squared error as a Python float.
  """
  imputed_x = np.asarray(imputed_x, np.float64)
  true_x = np.asarray(true_x, np.float64)
  mask = np.asarray(mask)
  if not imputed_x.shape == true_x.shape == mask.shape:
    raise ValueError(f"shapes differ: imputed {imputed_x.shape}, true {true_x.shape}, "
                     f"mask {mask.shape}")
  scored = (mask == 0) & np.isfinite(true_x)
  if not scored.any():
    raise ValueError("no missing entry with a known true value to score")
  err = imputed_x[scored] - true_x[scored]
  if not np.all(np.isfinite(err)):
    raise ValueError("imputed_x holds NaN/inf at scored missing entries")
  return float(np.mean(err ** 2))
