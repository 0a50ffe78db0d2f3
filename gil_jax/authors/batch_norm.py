"""The authors' tabular predictor: batch normalisation in training mode, no scale."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gil_jax.importance import ImportanceDense


class BatchNormalization(nn.Module):
  """Batch normalisation with a shift and no scale (``slim.batch_norm``'s defaults).

  ``use_stats=False`` (training mode) normalises with the batch's own mean and
  (biased) variance over the leading axes; when the ``bn_stats`` collection is
  mutable, those statistics are also written there (how
  :mod:`gil_jax.authors.predictor` records its evaluation statistics).
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
    # gil_jax.authors.predictor) compiles far slower on XLA's CPU backend.
    return (u - mean) / jnp.sqrt(var + self.epsilon) + beta


class BatchNormMLPPredictor(nn.Module):
  """The authors' tabular predictor: ``relu(BN(x W))`` hidden layers, dense logits.

  Batch normalisation in training mode (batch statistics) on every hidden layer, the
  dense layers before it without a bias (BN's shift replaces it), as in the authors'
  ``slim.fully_connected(..., normalizer_fn=slim.batch_norm)``.  The encoder is an
  :class:`ImportanceDense` named ``encoder`` like :class:`MLPPredictor`'s; its bias
  is cancelled by the normalisation (zero gradient, stays at 0).  Used with
  ``authors.batch_norm`` (:mod:`gil_jax.authors.predictor`), which trains it with
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
