"""The actor and the critic of GIL's policy (DDPG, 400-300 as in the authors' code)."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp



def _small_uniform(scale: float):
  """``U[-scale, scale]``: DDPG's final-layer initialisation (Lillicrap et al. 2015,
  sec. 7), so that the first actions are ~0.5 and the first Q-values ~0.

  (Not ``nn.initializers.uniform(scale)``: it draws from ``[0, scale)``, all
  positive, which would bias every first action above 0.5.)
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
