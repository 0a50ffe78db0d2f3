"""The behaviour policy of App. D, eq. (42), and its exploration schedule.

Per sample, the importance the predictor is trained with is

    a = pi_theta(s)    with probability p1 = 1 - p2 - p3,
        m              with probability p2   (the missing-indicator heuristic),
        random action  with probability p3,

where each entry of the random action is drawn from a 50/50 mixture of normals
centred at 0 and at 1 (sigma 0.2) truncated to [0, 1], as in the authors' code (which,
by an integer-division slip, only ever drew the component centred at 1 for tabular
data; we draw both).  p2 and p3 decay geometrically each step down to their floors.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

ACTOR, HEURISTIC, RANDOM = 0, 1, 2


class Exploration(NamedTuple):
  """Exploration schedule: ``p = max(floor, p0 * decay**step)`` for p2 and p3."""
  p2: float = 0.5
  p3: float = 0.4
  decay: float = 0.999
  p2_floor: float = 0.3
  p3_floor: float = 0.2
  sigma: float = 0.2


def probabilities(schedule: Exploration, step: jax.Array
                  ) -> tuple[jax.Array, jax.Array]:
  """``(p2, p3)`` at ``step``."""
  f = jnp.power(jnp.float32(schedule.decay), step.astype(jnp.float32))
  p2 = jnp.maximum(schedule.p2_floor, schedule.p2 * f)
  p3 = jnp.maximum(schedule.p3_floor, schedule.p3 * f)
  return p2, p3


def random_importance(key: jax.Array, shape, sigma: float = 0.2, *,
                      near_one_only: bool = False) -> jax.Array:
  """Entries from a 50/50 mixture of N(0, s^2) and N(1, s^2), each truncated to [0,1].

  Both components are mirror images: ``d ~ |N(0, s^2)|`` truncated to [0, 1] is the
  one centred at 0 and ``1 - d`` the one centred at 1.  One uniform draw per entry
  picks the side (its first bit) and, rescaled, drives the inverse CDF of ``d``,
  which halves the random numbers the training step generates.

  ``near_one_only`` draws every entry from the component centred at 1, as the
  authors' tabular code does (``PolicyConfig.near_one_random``, :mod:`gil_jax.authors` switch 5).
  """
  u = jax.random.uniform(key, shape, jnp.float32)
  if near_one_only:
    top = jax.scipy.special.ndtr(1.0 / sigma)
    z = jax.scipy.special.ndtri(0.5 + u * (top - 0.5))
    return 1.0 - jnp.clip(sigma * z, 0.0, 1.0)
  low_side = u < 0.5
  v = jnp.where(low_side, 2.0 * u, 2.0 * u - 1.0)     # again uniform on [0, 1)
  top = jax.scipy.special.ndtr(1.0 / sigma)             # Phi(1 / sigma)
  z = jax.scipy.special.ndtri(0.5 + v * (top - 0.5))    # N(0, 1) on [0, 1 / sigma]
  d = jnp.clip(sigma * z, 0.0, 1.0)
  return jnp.where(low_side, d, 1.0 - d)


def behaviour_action(key: jax.Array, actor_action: jax.Array, mask: jax.Array,
                     p2: jax.Array, p3: jax.Array, sigma: float = 0.2, *,
                     one_draw_per_batch: bool = False, near_one_only: bool = False
                     ) -> tuple[jax.Array, jax.Array]:
  """Eq. (42), drawn independently per sample (leading axis of ``actor_action``).

  ``one_draw_per_batch`` draws one mode for the whole batch and ``near_one_only``
  random actions from the near-1 component only (the authors' code, switches 4-5
  of :mod:`gil_jax.authors`).

  Args:
    key: PRNG key.
    actor_action: ``pi_theta(s)``, shape ``[B, d]`` (or ``[B, T, d]``).
    mask: the missing indicator ``m``, same shape.
    p2: probability of the heuristic ``a = m``.
    p3: probability of a random action.
    sigma: scale of the truncated normals of the random action.

  Returns:
    ``(action, mode)`` with ``mode[b]`` in {ACTOR, HEURISTIC, RANDOM}.
  """
  k_mode, k_rand = jax.random.split(key)
  if one_draw_per_batch:
    u = jnp.broadcast_to(jax.random.uniform(k_mode, ()), actor_action.shape[:1])
  else:
    u = jax.random.uniform(k_mode, actor_action.shape[:1])
  mode = jnp.where(u < p3, RANDOM, jnp.where(u < p3 + p2, HEURISTIC, ACTOR))
  rand = random_importance(k_rand, actor_action.shape, sigma,
                           near_one_only=near_one_only)
  expand = (slice(None),) + (None,) * (actor_action.ndim - 1)
  m = mode[expand]
  action = jnp.where(m == RANDOM, rand,
                     jnp.where(m == HEURISTIC, mask.astype(actor_action.dtype),
                               actor_action))
  return action, mode
