"""GP-VAE (Fortuin et al., AISTATS 2020): a VAE for time series whose latent
trajectory has a Gaussian-process prior; imputes missing entries by the decoder's
mean at the posterior mean.

Model, for a sequence ``x_{1:L}`` (``L`` its own length):

* prior: each of the ``latent_dim`` latent channels ``z_j = (z_j1, ..., z_jL)`` is an
  independent GP over the steps with the Cauchy kernel
  ``k(t, t') = sigma / (1 + (t - t')^2 / length_scale^2)`` (plus 1e-3 on the
  diagonal for stability, as the authors' code);
* decoder: ``x_t ~ N(f(z_t), I)``, ``f`` an MLP applied at each step;
* encoder: a 1-D convolution over ``window_size`` steps, then an MLP, giving per
  channel the posterior mean and an upper-bidiagonal ``B_j`` (positive diagonal)
  with precision ``Lambda_j = B_j^T B_j``: a banded precision, a full covariance
  ``Sigma_j = B_j^{-1} B_j^{-T}``.

Training maximises ``E_q[log p(x_obs | z)] - beta * KL(q(z) || p(z))`` (one sample
of ``z``), the likelihood on observed entries only; the KL is in closed form.  The
encoder sees the inputs with missing entries at 0 (the observed training mean after
standardisation), as in the authors' code.

Variable lengths: the encoder's convolution reads zeros past the end of a sequence,
as it would with "same" padding on the sequence alone; on padded steps ``B`` is the
identity and decoupled from the last valid step, and the prior is the identity
there too, so the padded block adds exactly 0 to the KL, and no likelihood term.
A sequence gets the same ELBO and imputations however much padding follows it.

Fitted on the training split only (:func:`fit_gpvae`); :func:`gpvae_impute` fills
any split of the fitted width.  Registered as the imputer ``"gpvae"``
(:mod:`gil_jax.baselines.imputers`).
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

from gil_jax.baselines import imputers
from gil_jax.data import Split

_JITTER = 1e-3      # added to the kernel's diagonal (the authors' code)


# ------------------------------------------------------------------- the prior


def cauchy_kernel(steps: int, sigma: float, length_scale: float) -> jax.Array:
  """``[T, T]`` Cauchy kernel matrix over steps ``0..T-1``, with the jitter."""
  t = jnp.arange(steps, dtype=jnp.float32)
  dist2 = (t[:, None] - t[None, :]) ** 2
  return sigma / (1.0 + dist2 / length_scale ** 2) + _JITTER * jnp.eye(steps)


def bidiagonal(diag: jax.Array, upper: jax.Array, valid: jax.Array
               ) -> tuple[jax.Array, jax.Array]:
  """An upper-bidiagonal ``B`` as ``(diagonal, entries above it)``, both
  ``[..., T]`` (``upper[t] = B[t, t+1]``, the last 0), made the identity on padded
  steps and decoupled from them (``valid [..., T]``)."""
  diag = jnp.where(valid, diag, 1.0)
  # B[t, t+1] couples step t to t+1: only where t+1 is a valid step.
  upper = jnp.where(jnp.roll(valid, -1, axis=-1) & valid, upper, 0.0)
  return diag, upper.at[..., -1].set(0.0)


def bidiagonal_inverse(b: tuple[jax.Array, jax.Array]) -> jax.Array:
  """``B^{-1}`` ``[..., T, T]`` by back-substitution, one row per step from the
  last (``B^{-1}[t] = (e_t - B[t, t+1] B^{-1}[t+1]) / B[t, t]``): ``O(T^2)`` per
  matrix, where a batched triangular solve is slow on CPU."""
  diag, upper = b
  steps = diag.shape[-1]

  def row(below, inputs):
    d_t, u_t, e_t = inputs
    out = (e_t - u_t[..., None] * below) / d_t[..., None]
    return out, out

  last = jnp.zeros(diag.shape[:-1] + (steps,), diag.dtype)   # row T: none
  _, rows = jax.lax.scan(row, last, (jnp.moveaxis(diag, -1, 0),
                                     jnp.moveaxis(upper, -1, 0),
                                     jnp.eye(steps, dtype=diag.dtype)), reverse=True)
  return jnp.moveaxis(rows, 0, -2)


def prior_kl(mean: jax.Array, b: tuple[jax.Array, jax.Array], kernel: jax.Array,
             valid: jax.Array) -> jax.Array:
  """``KL(N(mean, (B^T B)^{-1}) || N(0, K))`` per sequence, summed over channels.

  Args:
    mean: ``[N, J, T]`` posterior means (0 on padded steps).
    b: upper-bidiagonal factors, ``(diag, upper)`` each ``[N, J, T]``
      (:func:`bidiagonal`).
    kernel: ``[T, T]`` prior covariance over all ``T`` steps; a sequence of length
      ``L`` uses its leading ``L x L`` block.
    valid: ``[N, T]`` real steps.

  Returns:
    ``[N]``.  Closed form, with ``Sigma = B^{-1} B^{-T}`` and ``K = C C^T``::

        KL = 1/2 [ ||C^{-1} B^{-1}||_F^2 + ||C^{-1} mean||^2 - L
                   + log det K - log det Sigma ]

    The leading block of ``C^{-1}`` is the inverse Cholesky factor of the leading
    block of ``K``, so one factorisation serves every length.
  """
  steps = kernel.shape[-1]
  eye = jnp.eye(steps, dtype=kernel.dtype)
  chol_inv = jax.scipy.linalg.solve_triangular(jnp.linalg.cholesky(kernel), eye,
                                               lower=True)
  both = valid[:, :, None] & valid[:, None, :]
  chol_inv = jnp.where(both, chol_inv, eye)                       # [N, T, T]
  b_inv = bidiagonal_inverse(b)
  trace = jnp.sum(jnp.einsum("ntu,njuv->njtv", chol_inv, b_inv) ** 2, axis=(-2, -1))
  mahalanobis = jnp.sum(jnp.einsum("ntu,nju->njt", chol_inv, mean) ** 2, axis=-1)
  # log det K_L = -2 sum log diag(C^{-1}); log det Sigma = -2 sum log diag(B).
  logdet_k = -2.0 * jnp.sum(jnp.log(jnp.diagonal(chol_inv, axis1=-2, axis2=-1)), -1)
  logdet_sigma = -2.0 * jnp.sum(jnp.log(b[0]), -1)
  # Padded steps contribute 1 to the trace and 0 elsewhere: subtract T, not L.
  kl = 0.5 * (trace + mahalanobis - steps + logdet_k[:, None] - logdet_sigma)
  return jnp.sum(kl, axis=-1)


# -------------------------------------------------------------------- networks


class _Encoder(nn.Module):
  latent_dim: int
  sizes: tuple[int, ...]
  window_size: int

  @nn.compact
  def __call__(self, x: jax.Array, valid: jax.Array):
    h = nn.relu(nn.Conv(self.sizes[0], (self.window_size,), padding="SAME")(x))
    for size in self.sizes[1:]:
      h = nn.relu(nn.Dense(size)(h))
    out = nn.Dense(3 * self.latent_dim)(h)                 # [N, T, 3J]
    mean, diag, upper = jnp.split(jnp.swapaxes(out, 1, 2), 3, axis=1)
    v = valid[:, None, :]
    mean = jnp.where(v, mean, 0.0)
    # Diagonal in (1, 2) and coupling in (0, 1), as the authors' parametrisation.
    return mean, bidiagonal(1.0 + nn.sigmoid(diag), nn.sigmoid(upper), v)


class _Decoder(nn.Module):
  features: int
  sizes: tuple[int, ...]

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    h = z
    for size in self.sizes:
      h = nn.relu(nn.Dense(size)(h))
    return nn.Dense(self.features)(h)


class GPVAE(nn.Module):
  """Encoder and decoder; ``__call__`` gives the negative ELBO's two terms."""
  features: int
  latent_dim: int
  encoder_sizes: tuple[int, ...]
  decoder_sizes: tuple[int, ...]
  window_size: int

  def setup(self):
    self.encoder = _Encoder(self.latent_dim, self.encoder_sizes, self.window_size)
    self.decoder = _Decoder(self.features, self.decoder_sizes)

  def __call__(self, x, m, valid, key, kernel):
    """``(nll [N], kl [N])`` with one posterior sample."""
    mean, b = self.encoder(x, valid)
    eps = jax.random.normal(key, mean.shape, mean.dtype)
    noise = jnp.einsum("njtu,nju->njt", bidiagonal_inverse(b), eps)   # B^{-1} eps
    z = jnp.where(valid[:, None, :], mean + noise, 0.0)
    x_mean = self.decoder(jnp.swapaxes(z, 1, 2))
    nll = 0.5 * ((x - x_mean) ** 2 + jnp.log(2 * jnp.pi)) * m
    return jnp.sum(nll, axis=(1, 2)), prior_kl(mean, b, kernel, valid)

  def impute(self, x, valid):
    """The decoder's mean at the posterior mean, ``[N, T, d]``."""
    mean, _ = self.encoder(x, valid)
    return self.decoder(jnp.swapaxes(mean, 1, 2))


# ------------------------------------------------------------------ fit, impute


class GPVAEModel(NamedTuple):
  """A fitted GP-VAE: its parameters, options and training loss per step."""
  params: Any
  options: dict          # width, the networks' sizes, the prior's sigma, length_scale
  loss: np.ndarray       # [num_steps] negative ELBO (beta-weighted) per sequence


def _inputs(split: Split) -> tuple[jax.Array, jax.Array, jax.Array]:
  """``(x with missing and padded entries 0, m, valid)`` of a sequence split."""
  x = np.asarray(split.x)
  if x.ndim != 3 or split.length is None:
    raise ValueError(f"GP-VAE imputes sequences [N, T, d] with lengths; got x of "
                     f"shape {x.shape}")
  valid = np.arange(x.shape[1])[None, :] < np.asarray(split.length)[:, None]
  m = (np.asarray(split.m) > 0) & valid[..., None]
  return (jnp.asarray(np.where(m, x, 0.0), jnp.float32),
          jnp.asarray(m, jnp.float32), jnp.asarray(valid))


def _module(options: dict) -> GPVAE:
  return GPVAE(features=options["features"], latent_dim=options["latent_dim"],
               encoder_sizes=tuple(options["encoder_sizes"]),
               decoder_sizes=tuple(options["decoder_sizes"]),
               window_size=options["window_size"])


def negative_elbo(module: GPVAE, params, x, m, valid, key, kernel,
                  beta: float) -> jax.Array:
  """Mean over sequences of ``nll + beta * KL`` (one sample of ``z``)."""
  nll, kl = module.apply(params, x, m, valid, key, kernel)
  return jnp.mean(nll + beta * kl)


@functools.lru_cache(maxsize=8)
def _trainer(frozen_options: tuple, beta: float, batch_size: int, num_steps: int,
             learning_rate: float) -> Callable:
  """The jitted training loop of one configuration (cached: compiled once)."""
  options = dict(frozen_options)
  module = _module(options)
  sigma, length_scale = options["sigma"], options["length_scale"]
  tx = optax.adam(learning_rate)

  def train(key, x, m, valid):
    kernel = cauchy_kernel(x.shape[1], sigma, length_scale)
    key, init_key = jax.random.split(key)
    params = module.init(init_key, x[:1], m[:1], valid[:1], key, kernel)

    def step(carry, key):
      params, opt = carry
      k_idx, k_z = jax.random.split(key)
      idx = jax.random.randint(k_idx, (batch_size,), 0, x.shape[0])
      loss, grads = jax.value_and_grad(negative_elbo, argnums=1)(
          module, params, x[idx], m[idx], valid[idx], k_z, kernel, beta)
      updates, opt = tx.update(grads, opt, params)
      return (optax.apply_updates(params, updates), opt), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)),
                                       jax.random.split(key, num_steps))
    return params, losses

  return jax.jit(train)


def fit_gpvae(train: Split, *, seed: int = 0, latent_dim: int = 35,
              encoder_sizes: tuple[int, ...] = (256, 256),
              decoder_sizes: tuple[int, ...] = (256, 256, 256),
              window_size: int = 3, beta: float = 0.2, sigma: float = 1.005,
              length_scale: float = 7.0, batch_size: int = 64,
              num_steps: int = 2000, learning_rate: float = 1e-3) -> GPVAEModel:
  """Trains a GP-VAE on a training split of sequences.

  Defaults: the sizes of the paper's App. D (its grid: latent_dim {6, 12, 35},
  window_size {3, 4, 6}, beta {0.2, 0.5, 0.8}, length_scale {2, 4, 7}; sigma
  1.005), Adam at 1e-3 as the authors' code.

  Args:
    train: placeholder-filled sequences with mask and lengths.
    seed: initialisation, minibatches and posterior samples.
    latent_dim, encoder_sizes, decoder_sizes, window_size: the networks.
    beta: weight of the KL term.
    sigma, length_scale: the Cauchy kernel.
    batch_size, num_steps, learning_rate: the optimisation (minibatches drawn
      with replacement; all steps in one jitted ``lax.scan``).

  Returns:
    A :class:`GPVAEModel`.
  """
  ints = {"latent_dim": latent_dim, "window_size": window_size,
          "batch_size": batch_size, "num_steps": num_steps}
  for name, value in ints.items():
    if int(value) != value or value < 1:
      raise ValueError(f"GP-VAE's {name} must be an integer >= 1, got {value!r}")
  positive = {"sigma": sigma, "length_scale": length_scale,
              "learning_rate": learning_rate}
  for name, value in positive.items():
    if not value > 0:
      raise ValueError(f"GP-VAE's {name} must be > 0, got {value!r}")
  if not beta >= 0:
    raise ValueError(f"GP-VAE's beta must be >= 0, got {beta!r}")
  if not encoder_sizes or min(encoder_sizes) < 1 or min(decoder_sizes, default=1) < 1:
    raise ValueError(f"GP-VAE's layer sizes must be >= 1 (at least one encoder "
                     f"layer), got {encoder_sizes}, {decoder_sizes}")
  x, m, valid = _inputs(train)
  if not np.asarray(m).any():
    raise ValueError("the training split has no observed entry to fit GP-VAE on")
  options = {"features": int(x.shape[-1]), "latent_dim": int(latent_dim),
             "encoder_sizes": [int(s) for s in encoder_sizes],
             "decoder_sizes": [int(s) for s in decoder_sizes],
             "window_size": int(window_size), "sigma": float(sigma),
             "length_scale": float(length_scale)}
  trainer = _trainer(_frozen(options), float(beta), int(batch_size),
                     int(num_steps), float(learning_rate))
  params, losses = trainer(jax.random.key(seed), x, m, valid)
  losses = np.asarray(losses)
  if not np.all(np.isfinite(losses)):
    raise FloatingPointError("GP-VAE's loss became non-finite; lower learning_rate")
  return GPVAEModel(params=jax.tree.map(np.asarray, params), options=options,
                    loss=losses)


def _frozen(options: dict) -> tuple:
  return tuple((k, tuple(v) if isinstance(v, list) else v)
               for k, v in sorted(options.items()))


@functools.lru_cache(maxsize=8)
def _imputer(frozen_options: tuple) -> Callable:
  module = _module(dict(frozen_options))
  return jax.jit(lambda params, x, valid: module.apply(params, x, valid,
                                                       method=GPVAE.impute))


def gpvae_impute(model: GPVAEModel, split: Split, batch: int = 1024) -> Split:
  """``split`` with its missing entries (on valid steps) replaced by the
  decoder's mean at the posterior mean; observed entries, padding, ``m`` and
  ``y`` unchanged.  Deterministic; a sequence's imputation does not depend on
  the other rows."""
  width = model.options["features"]
  x, m, valid = _inputs(split)
  if x.shape[-1] != width:
    raise ValueError(f"GP-VAE was fitted on {width} variables; got data of shape "
                     f"{tuple(x.shape)}")
  impute = _imputer(_frozen(model.options))
  out = [np.asarray(impute(model.params, x[i:i + batch], valid[i:i + batch]))
         for i in range(0, x.shape[0], batch)]
  filled = np.concatenate(out, 0) if out else np.zeros(x.shape, np.float32)
  fill = (np.asarray(m) == 0) & np.asarray(valid)[..., None]
  new_x = np.where(fill, filled, np.asarray(split.x)).astype(np.float32)
  if not np.all(np.isfinite(new_x[np.asarray(valid)])):
    raise FloatingPointError("GP-VAE imputation left non-finite values")
  return split._replace(x=new_x)


def to_state(model: GPVAEModel) -> dict:
  """Plain data (nested dicts of arrays, numbers, lists) for saving."""
  return {"params": jax.tree.map(np.asarray, model.params),
          "options": dict(model.options), "loss": np.asarray(model.loss)}


def from_state(state: dict) -> GPVAEModel:
  return GPVAEModel(params=state["params"], options=dict(state["options"]),
                    loss=np.asarray(state["loss"]))


imputers.register_imputer("gpvae", imputers.NetworkImputer(
    fit=fit_gpvae, impute=gpvae_impute, to_state=to_state, from_state=from_state,
    sequences=True))
