"""The MLP predictor: ``zeta = relu(x @ W_enc + b)``, then dense inference layers."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gil_jax.data.containers import Split
from gil_jax.importance import ImportanceDense
from gil_jax.models.base import Model, register_model


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


def policy_state(x: jax.Array, m: jax.Array, zeta: jax.Array,
                 probs: jax.Array) -> jax.Array:
  """The RL state ``s = (x, m, zeta, y_hat)`` per sample, flattened (sec. 2.3)."""
  s = jnp.concatenate([x, m, zeta, probs], axis=-1)
  # The state is an observation: the policy must not push gradients into the predictor.
  return jax.lax.stop_gradient(s)


def mlp_model(hidden, num_classes: int, module: nn.Module | None = None) -> Model:
  """:class:`MLPPredictor` (or ``module``, a variant with its call signature and
  an ``encoder`` layer) as a :class:`~gil_jax.models.base.Model`."""
  if module is None:
    module = MLPPredictor(hidden=tuple(hidden), num_classes=num_classes)

  def apply(params, batch: Split, probe=None):
    return module.apply(params, batch.x, encoder_probe=probe)

  def observe(batch: Split, logits, zeta):
    return policy_state(batch.x, batch.m, zeta, jax.nn.softmax(logits)), None

  return Model(
      module=module, init=lambda key, batch: module.init(key, batch.x),
      apply=apply, observe=observe, summary_features=lambda zeta: zeta,
      valid_steps=lambda zeta: None,
      encoder_inputs=lambda batch, zeta: batch.x,
      probe_shape=lambda batch: batch.x.shape[:-1] + (hidden[0],),
      is_sequence=False)


register_model("mlp", mlp_model)
