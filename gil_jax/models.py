"""Flax modules: the predictor (encoder + inference layers), the actor and the critic."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gil_jax.importance import ImportanceDense


class MLPPredictor(nn.Module):
  """MLP predictor: ``zeta = relu(x @ W_enc + b)``, then dense inference layers.

  Only the encoder (first layer, named ``encoder``) sees the importance; the inference
  layers train by plain gradients (paper sec. 2.2, Alg. 1 lines 7-8).

  Attributes:
    hidden: widths of the hidden layers; ``hidden[0]`` is the encoder width ``e``.
    num_classes: number of output logits.
  """
  hidden: Sequence[int]
  num_classes: int

  @nn.compact
  def __call__(self, x: jax.Array, importance: jax.Array | None = None,
               encoder_probe: jax.Array | None = None
               ) -> tuple[jax.Array, jax.Array]:
    """Returns ``(logits [B, C], zeta [B, e])``.

    Args:
      x: inputs ``[B, d]``, missing entries holding the placeholder.
      importance: ``[B, d]`` importance for the encoder gradient (eq. 4); ``None``
        trains with the plain gradient.
      encoder_probe: optional ``[B, e]`` added to the encoder pre-activation; the
        gradient w.r.t. a zero probe is the per-sample cotangent ``delta`` that
        :func:`gil_jax.importance.importance_weighted_encoder` consumes.
    """
    u = ImportanceDense(self.hidden[0], name="encoder")(x, importance)
    if encoder_probe is not None:
      u = u + encoder_probe
    zeta = nn.relu(u)
    h = zeta
    for i, width in enumerate(self.hidden[1:]):
      h = nn.relu(nn.Dense(width, name=f"inference_{i}")(h))
    logits = nn.Dense(self.num_classes, name="logits")(h)
    return logits, zeta


class BatchNormalization(nn.Module):
  """Batch normalisation with a shift and no scale (``slim.batch_norm``'s defaults).

  ``use_stats=False`` (training mode) normalises with the batch's own mean and
  (biased) variance over the leading axes; when the ``bn_stats`` collection is
  mutable, those statistics are also written there (how
  :mod:`gil_jax.authors_predictor` records its evaluation statistics).
  ``use_stats=True`` normalises with the stored ``bn_stats``.
  """
  epsilon: float = 1e-3

  @nn.compact
  def __call__(self, u: jax.Array, use_stats: bool = False) -> jax.Array:
    width = u.shape[-1]
    beta = self.param("beta", nn.initializers.zeros_init(), (width,), jnp.float32)
    mean_v = self.variable("bn_stats", "mean", jnp.zeros, (width,), jnp.float32)
    var_v = self.variable("bn_stats", "var", jnp.ones, (width,), jnp.float32)
    if use_stats:
      mean, var = mean_v.value, var_v.value
    else:
      axes = tuple(range(u.ndim - 1))
      mean = u.mean(axes)
      var = jnp.square(u - mean).mean(axes)
      if self.is_mutable_collection("bn_stats") and not self.is_initializing():
        mean_v.value, var_v.value = mean, var
    # Not lax.rsqrt: its derivative under vmap (the per-example Jacobian of
    # gil_jax.authors_predictor) compiles ~100x slower on XLA's CPU backend.
    return (u - mean) / jnp.sqrt(var + self.epsilon) + beta


class BatchNormMLPPredictor(nn.Module):
  """The authors' tabular predictor: ``relu(BN(x W))`` hidden layers, dense logits.

  Batch normalisation in training mode (batch statistics) on every hidden layer, the
  dense layers before it without a bias (BN's shift replaces it), as in the authors'
  ``slim.fully_connected(..., normalizer_fn=slim.batch_norm)``.  The encoder is an
  :class:`ImportanceDense` named ``encoder`` like :class:`MLPPredictor`'s; its bias
  is cancelled by the normalisation (zero gradient, stays at 0).  Used with
  ``authors.batch_norm`` (:mod:`gil_jax.authors_predictor`), which trains it with
  per-example gradients and evaluates it with stored statistics (``use_stats``).
  """
  hidden: Sequence[int]
  num_classes: int
  epsilon: float = 1e-3

  @nn.compact
  def __call__(self, x: jax.Array, importance: jax.Array | None = None,
               encoder_probe: jax.Array | None = None, use_stats: bool = False
               ) -> tuple[jax.Array, jax.Array]:
    """Returns ``(logits [B, C], zeta [B, e])``; arguments as :class:`MLPPredictor`'s,
    and ``use_stats`` normalises with the stored statistics (evaluation)."""
    u = ImportanceDense(self.hidden[0], name="encoder")(x, importance)
    if encoder_probe is not None:
      u = u + encoder_probe
    zeta = nn.relu(BatchNormalization(self.epsilon, name="encoder_bn")(u, use_stats))
    h = zeta
    for i, width in enumerate(self.hidden[1:]):
      h = nn.Dense(width, use_bias=False, name=f"inference_{i}")(h)
      h = nn.relu(BatchNormalization(self.epsilon, name=f"inference_{i}_bn")(
          h, use_stats))
    logits = nn.Dense(self.num_classes, name="logits")(h)
    return logits, zeta


def _small_uniform(scale: float):
  """``U[-scale, scale]``: DDPG's final-layer initialisation (Lillicrap et al. 2015,
  sec. 7), so that the first actions are ~0.5 and the first Q-values ~0.

  (``nn.initializers.uniform(scale)`` draws from ``[0, scale)``, all positive: an
  earlier version used it, which biased every first action above 0.5.)
  """
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -scale, scale)
  return init


class Actor(nn.Module):
  """Deterministic policy ``pi_theta(s) in [0,1]^d`` (400-300 as in the authors' code)."""
  action_dim: int
  hidden: Sequence[int] = (400, 300)

  @nn.compact
  def __call__(self, s: jax.Array) -> jax.Array:
    h = s
    for width in self.hidden:
      h = nn.relu(nn.Dense(width)(h))
    out = nn.Dense(self.action_dim, kernel_init=_small_uniform(3e-3))(h)
    return nn.sigmoid(out)


class Critic(nn.Module):
  """``Q(s, a)``: a state branch (400), merged with the action in the next layer (300).

  ``h1 = relu(s W1)``; ``h2 = relu(h1 W2 + a W_a)``; ``Q = h2 w3`` (the layout of the
  DDPG paper and of the authors' code).
  """
  hidden: Sequence[int] = (400, 300)

  @nn.compact
  def __call__(self, s: jax.Array, a: jax.Array) -> jax.Array:
    h = nn.relu(nn.Dense(self.hidden[0], name="state")(s))
    h = nn.relu(nn.Dense(self.hidden[1], name="merge")(h)
                + nn.Dense(self.hidden[1], use_bias=False, name="action")(a))
    for i, width in enumerate(self.hidden[2:]):
      h = nn.relu(nn.Dense(width, name=f"hidden_{i}")(h))
    q = nn.Dense(1, kernel_init=_small_uniform(3e-3), name="q")(h)
    return q[..., 0]


def policy_state(x: jax.Array, m: jax.Array, zeta: jax.Array,
                 probs: jax.Array) -> jax.Array:
  """The RL state ``s = (x, m, zeta, y_hat)`` per sample, flattened (sec. 2.3)."""
  s = jnp.concatenate([x, m, zeta, probs], axis=-1)
  # The state is an observation: the policy must not push gradients into the predictor.
  return jax.lax.stop_gradient(s)
