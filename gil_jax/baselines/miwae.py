"""MIWAE imputation (Mattei & Frellsen, ICML 2019): a deep latent variable model
trained on incomplete rows by an importance-weighted bound.

Model: ``z ~ N(0, I_latent)``, ``x | z`` with independent coordinates, Student's t
(location, scale ``softplus + 1e-3``, degrees of freedom ``softplus + 3``) or
Gaussian, whose parameters a decoder MLP outputs.  An encoder MLP reads the row with
its missing entries set to zero (the observed training mean: the columns are
standardised with the observed training statistics) and outputs a diagonal
Gaussian ``q(z | x_o)``.  Training maximises, over minibatches, the MIWAE bound

  ``L_K = E[ log (1/K) sum_k p(x_o | z_k) p(z_k) / q(z_k | x_o) ]``,  ``z_k ~ q``,

where ``p(x_o | z)`` multiplies the observed coordinates only: under MAR this is a
lower bound of the observed-data log-likelihood that tightens as ``K`` grows
(Burda et al., 2016).  A missing entry is imputed by self-normalised importance
sampling: with ``L`` draws ``z_l ~ q`` and weights ``w_l`` proportional to
``p(x_o | z_l) p(z_l) / q(z_l | x_o)``, ``E[x_u | x_o] ~ sum_l w_l E[x_u | z_l]``
(the decoder's location).  Each row is imputed with its own key (folded in from its
index), so a row's imputation does not depend on the other rows.

Defaults follow the authors' UCI code: two tanh layers of 128 units in both
networks, latent dimension 10, ``K = 20``, batch 64, Adam at 1e-3, ``L = 1000``.
All training steps run in one jitted ``lax.scan`` on the default device.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.special

from gil_jax.data import Split
from gil_jax.data.scaling import masked_moments

LIKELIHOODS = ("student", "gaussian")
_MIN_SCALE = 1e-3   # floor of the decoder's scale (unit-variance columns)
_MIN_DF = 3.0       # degrees of freedom > 3: the first moments exist


class _Mlp(nn.Module):
  """tanh hidden layers, then a linear output of ``features`` units."""
  hidden: tuple[int, ...]
  features: int

  @nn.compact
  def __call__(self, v: jax.Array) -> jax.Array:
    for width in self.hidden:
      v = jnp.tanh(nn.Dense(width)(v))
    return nn.Dense(self.features)(v)


class _Nets(NamedTuple):
  encoder: _Mlp     # zero-filled row -> (mean, raw scale) of q(z | x_o)
  decoder: _Mlp     # z -> (location, raw scale[, raw df]) of p(x | z)
  likelihood: str


def _nets(d: int, hidden: tuple[int, ...], latent: int, likelihood: str) -> _Nets:
  outputs = 3 if likelihood == "student" else 2
  return _Nets(_Mlp(hidden, 2 * latent), _Mlp(hidden, outputs * d), likelihood)


def _log_weights(nets: _Nets, params: Any, x: jax.Array, m: jax.Array,
                 eps: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Log importance weights ``[k]`` and decoder locations ``[k, d]`` of one row
  (``x`` zero at missing entries, ``m`` its mask) for standard normal draws
  ``eps [k, latent]``."""
  k, latent = eps.shape
  out = nets.encoder.apply(params["encoder"], x)
  q_mean, q_scale = out[:latent], jax.nn.softplus(out[latent:]) + 1e-6
  z = q_mean + q_scale * eps
  log_q = jax.scipy.stats.norm.logpdf(z, q_mean, q_scale).sum(-1)
  log_prior = jax.scipy.stats.norm.logpdf(z).sum(-1)
  dec = nets.decoder.apply(params["decoder"], z).reshape(k, -1, x.shape[-1])
  loc, scale = dec[:, 0], jax.nn.softplus(dec[:, 1]) + _MIN_SCALE
  if nets.likelihood == "student":
    df = jax.nn.softplus(dec[:, 2]) + _MIN_DF
    log_px = jax.scipy.stats.t.logpdf(x, df, loc, scale)
  else:
    log_px = jax.scipy.stats.norm.logpdf(x, loc, scale)
  # Only the observed coordinates enter p(x_o | z).
  log_px_obs = jnp.where(m > 0, log_px, 0.0).sum(-1)
  return log_px_obs + log_prior - log_q, loc


def _row_log_weights(nets, params, x, m, eps):
  return _log_weights(nets, params, x, m, eps)[0]


def _row_bound(nets, params, x, m, eps):
  log_w, _ = _log_weights(nets, params, x, m, eps)
  return jax.nn.logsumexp(log_w) - jnp.log(eps.shape[0])


def _row_impute(nets, params, x, m, eps):
  log_w, loc = _log_weights(nets, params, x, m, eps)
  w = jax.nn.softmax(log_w)
  return jnp.where(m > 0, x, w @ loc)


class MiwaeModel(NamedTuple):
  """A trained MIWAE and the training split's standardisation."""
  params: Any               # {"encoder": ..., "decoder": ...} Flax parameters
  hidden: tuple[int, ...]
  latent_dim: int
  likelihood: str
  num_samples: int          # L, importance samples per imputed row
  center: np.ndarray        # [d] observed training mean per column
  scale: np.ndarray         # [d] observed training deviation per column (1 if none)
  bound: np.ndarray         # [num_steps] minibatch MIWAE bound (K samples) per step

  kind = "miwae"

  @property
  def width(self) -> int:
    return int(self.center.shape[0])

  def _shape(self) -> tuple:
    return (self.width, tuple(self.hidden), self.latent_dim, self.likelihood)

  def impute(self, split: Split, key: jax.Array, batch: int = 256) -> np.ndarray:
    """``split.x`` with missing entries imputed by importance sampling
    (``num_samples`` draws per row, row ``i`` with ``fold_in(key, i)``); rows with
    nothing missing are passed through."""
    z, m = _standardised(split, self.center, self.scale)
    out = z.copy()
    rows = np.flatnonzero((m == 0).any(1))
    fn = _row_fn(self._shape(), "impute", self.num_samples)
    for i in range(0, len(rows), batch):
      idx = rows[i:i + batch]
      # Every chunk has ``batch`` rows (the last repeats its final row), so one
      # compiled program serves every split.
      padded = np.pad(idx, (0, batch - len(idx)), mode="edge")
      keys = jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.asarray(padded))
      out[idx] = np.asarray(fn(self.params, z[padded], m[padded], keys))[:len(idx)]
    return out * self.scale + self.center

  def log_bounds(self, split: Split, key: jax.Array, ks: tuple[int, ...]
                 ) -> np.ndarray:
    """Each row's MIWAE bound for each ``k`` in ``ks``, ``[len(ks), n]``, in the
    standardised units the model was trained in: the estimate with ``k`` samples
    uses the first ``k`` of ``max(ks)`` draws per row."""
    z, m = _standardised(split, self.center, self.scale)
    keys = jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(len(z)))
    log_w = np.asarray(_row_fn(self._shape(), "log_weights", int(max(ks)))(
        self.params, z, m, keys), np.float64)
    return np.stack([scipy.special.logsumexp(log_w[:, :k], axis=1) - np.log(k)
                     for k in ks])

  def state(self) -> dict:
    return {"params": jax.tree.map(np.asarray, self.params),
            "hidden": [int(h) for h in self.hidden], "latent_dim": int(self.latent_dim),
            "likelihood": self.likelihood, "num_samples": int(self.num_samples),
            "center": self.center, "scale": self.scale, "bound": self.bound}

  @classmethod
  def from_state(cls, state: dict) -> MiwaeModel:
    return cls(params=state["params"], hidden=tuple(int(h) for h in state["hidden"]),
               latent_dim=int(state["latent_dim"]), likelihood=state["likelihood"],
               num_samples=int(state["num_samples"]), center=state["center"],
               scale=state["scale"], bound=state["bound"])


@functools.lru_cache(maxsize=32)
def _row_fn(shape: tuple, what: str, k: int) -> Callable:
  """Jitted ``(params, x [n, d], m [n, d], keys [n]) -> [n, k] log weights /
  [n, d] imputed`` for networks of ``shape`` = ``(d, hidden, latent_dim,
  likelihood)``."""
  nets = _nets(*shape)
  row = {"log_weights": _row_log_weights, "impute": _row_impute}[what]

  def one(params, x, m, key):
    return row(nets, params, x, m, jax.random.normal(key, (k, shape[2])))

  return jax.jit(jax.vmap(one, (None, 0, 0, 0)))


def _standardised(split: Split, center: np.ndarray, scale: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
  m = (np.asarray(split.m) > 0).astype(np.float32)
  z = (np.asarray(split.x, np.float32) - center) / scale
  return np.where(m > 0, z, 0.0).astype(np.float32), m


@functools.lru_cache(maxsize=16)
def _trainer(shape: tuple, batch_size: int, num_steps: int, k: int,
             learning_rate: float) -> Callable:
  """The jitted training loop of one configuration (cached: compiled once)."""
  nets, d = _nets(*shape), shape[0]
  tx = optax.adam(learning_rate)
  bound = jax.vmap(functools.partial(_row_bound, nets), (None, 0, 0, 0))

  def loss(params, x, m, eps):
    return -jnp.mean(bound(params, x, m, eps))

  def step(carry, _):
    params, opt, key, x_all, m_all = carry
    key, k_idx, k_z = jax.random.split(key, 3)
    idx = jax.random.randint(k_idx, (batch_size,), 0, x_all.shape[0])
    eps = jax.random.normal(k_z, (batch_size, k, shape[2]))
    value, grads = jax.value_and_grad(loss)(params, x_all[idx], m_all[idx], eps)
    updates, opt = tx.update(grads, opt, params)
    return (optax.apply_updates(params, updates), opt, key, x_all, m_all), -value

  def train(key, x_all, m_all):
    key, k_enc, k_dec = jax.random.split(key, 3)
    params = {"encoder": nets.encoder.init(k_enc, jnp.zeros((d,))),
              "decoder": nets.decoder.init(
                  k_dec, jnp.zeros((nets.encoder.features // 2,)))}
    carry = (params, tx.init(params), key, x_all, m_all)
    carry, bounds = jax.lax.scan(step, carry, None, length=num_steps)
    return carry[0], bounds

  return jax.jit(train)


def fit(train: Split, *, seed: int = 0, num_steps: int = 20000, batch_size: int = 64,
        k: int = 20, learning_rate: float = 1e-3, hidden: tuple[int, ...] = (128, 128),
        latent_dim: int = 10, likelihood: str = "student",
        num_samples: int = 1000) -> MiwaeModel:
  """Trains MIWAE on the training split's observed entries.

  Args:
    train: placeholder-filled training split with its mask (``m``: 1 observed).
    seed: initialisation, minibatches and the latent draws; the same seed gives
      the same model on the same device.
    num_steps: Adam steps (one minibatch each, rows drawn with replacement).
    batch_size: rows per minibatch.
    k: importance samples per row in the training bound.
    learning_rate: Adam learning rate.
    hidden: widths of the tanh hidden layers of encoder and decoder.
    latent_dim: dimension of ``z``.
    likelihood: ``"student"`` or ``"gaussian"`` observation model.
    num_samples: importance samples ``L`` per row when imputing.

  Returns:
    A :class:`MiwaeModel`.

  Raises:
    ValueError: a bad option, or a column with no observed training value (the
      model would have nothing to learn it from; drop such columns first).
  """
  if likelihood not in LIKELIHOODS:
    raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
  for name, value in (("num_steps", num_steps), ("batch_size", batch_size),
                      ("k", k), ("latent_dim", latent_dim),
                      ("num_samples", num_samples)):
    if int(value) != value or value < 1:
      raise ValueError(f"{name} must be an integer >= 1, got {value}")
  hidden = tuple(int(h) for h in hidden)
  if any(h < 1 for h in hidden):
    raise ValueError(f"hidden widths must be >= 1, got {hidden}")
  if not learning_rate > 0:
    raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
  x = np.asarray(train.x, np.float64)
  m = np.asarray(train.m) > 0
  if x.ndim != 2 or m.shape != x.shape or len(x) == 0:
    raise ValueError(f"MIWAE needs a non-empty [n, d] split with its mask, got x "
                     f"{x.shape}, m {m.shape}")
  center, scale = masked_moments(x, m, "MIWAE")
  center, scale = center.astype(np.float32), scale.astype(np.float32)
  z, mf = _standardised(train, center, scale)
  d = x.shape[1]
  trainer = _trainer((d, hidden, int(latent_dim), likelihood), int(batch_size),
                     int(num_steps), int(k),
                     float(learning_rate))
  params, bounds = trainer(jax.random.key(seed), jnp.asarray(z), jnp.asarray(mf))
  bounds = np.asarray(bounds)
  if not np.all(np.isfinite(bounds)):
    raise FloatingPointError("MIWAE: the training bound became non-finite; lower "
                             "learning_rate")
  return MiwaeModel(params=jax.device_get(params), hidden=hidden,
                    latent_dim=int(latent_dim), likelihood=likelihood,
                    num_samples=int(num_samples), center=center, scale=scale,
                    bound=bounds)
