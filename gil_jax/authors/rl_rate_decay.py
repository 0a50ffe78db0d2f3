"""The authors' RL learning-rate decay (their switch 6): actor and critic rates
x0.965 every 10 steps while the mean reward of the last 10 steps is >= -25.

With the authors' KL reward (bounded below by about -16) the condition always holds,
so their rates shrink x0.028 by step 1000.  GIL's policy source applies it when
``PolicyConfig.rl_lr_decay`` is set.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

# The code's RL learning-rate decay: rates x RATE every EVERY steps while the mean
# reward of the last EVERY steps is >= THRESHOLD.
RL_LR_DECAY_RATE = 0.965
RL_LR_DECAY_EVERY = 10
RL_LR_DECAY_THRESHOLD = -25.0


class RLRateDecay(NamedTuple):
  """State of the authors' RL learning-rate decay (switch 6).

  Attributes:
    scale: factor on the actor's and the critic's learning rates (starts at 1).
    recent: the batch-mean rewards of the last ``RL_LR_DECAY_EVERY`` steps, a ring
      indexed by ``step % RL_LR_DECAY_EVERY``.
  """
  scale: jax.Array
  recent: jax.Array


def rl_rate_decay_init() -> RLRateDecay:
  return RLRateDecay(scale=jnp.ones((), jnp.float32),
                     recent=jnp.zeros((RL_LR_DECAY_EVERY,), jnp.float32))


def rl_rate_decay_update(state: RLRateDecay, step: jax.Array,
                         mean_reward: jax.Array) -> RLRateDecay:
  """Records step ``step``'s (0-based) mean reward; decays the rates if due.

  As in the authors' loop: after steps 10, 20, ... the rates are multiplied by
  0.965 when the mean reward of the last 10 steps is >= -25.
  """
  recent = state.recent.at[step % RL_LR_DECAY_EVERY].set(
      jnp.asarray(mean_reward, jnp.float32))
  due = ((step % RL_LR_DECAY_EVERY == 0) & (step > 0)
         & (recent.mean() >= RL_LR_DECAY_THRESHOLD))
  scale = jnp.where(due, state.scale * jnp.float32(RL_LR_DECAY_RATE), state.scale)
  return RLRateDecay(scale=scale, recent=recent)
