"""``gil_heldout``: GIL's DDPG policy with a reward whose optimum is not ``a = 1``.

Everything is GIL's (:mod:`gil_jax.sources.policy.source`: state, behaviour policy, replay,
actor-critic) except the per-sample reward.  The paper's reward, each sample's own
loss after the update, always improves when the sample gets more weight
(:func:`gil_jax.sources.credit.own_loss_sensitivity`).  Here the reward is what sample
``b``'s weighted contribution buys on training rows the update did not see:

    r_b = sum_j a_bj c_bj,    c_bj = -dL_meta(theta'(a)) / da_bj    (credit, eq. 1)

the first-order decrease of the held-out loss due to sample ``b`` (exact through the
real Adam update; for SGD ``(eta/B) sum_j a_bj u_bj``).
Raw credits are tiny (~1e-4) and drift with the learning rate, so each step's rewards
are divided by their mean absolute value over the batch: the critic sees which
samples' and entries' contributions helped, on a stable scale.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from gil_jax.predictor import Predictor, StepContext
from gil_jax.sources import credit
from gil_jax.sources.base import ImportanceSource, register_source
from gil_jax.sources.policy.source import PolicyConfig, make_policy_source


@dataclasses.dataclass(frozen=True)
class HeldoutPolicyConfig(PolicyConfig):
  """GIL's options; ``meta_batch_size`` rows score the reward's held-out credit."""

  def __post_init__(self):
    super().__post_init__()
    if self.reward_before_update:
      raise ValueError("reward_before_update does not apply to gil_heldout: its "
                       "reward is the held-out credit of the update itself")


def heldout_reward(config, predictor: Predictor):
  """``reward_fn`` of :func:`make_policy_source`: normalised held-out credit."""
  def reward(keys, ctx: StepContext, importance, params_after):
    rows = credit.draw_heldout_rows(keys["meta"], ctx.train, ctx.batch_idx,
                               config.source_config.meta_batch_size)
    c = credit.heldout_credit(predictor, ctx, importance, rows, params_after)
    r = jnp.sum((importance * c).reshape(c.shape[0], -1), axis=1)
    return r / jnp.maximum(jnp.mean(jnp.abs(r)), 1e-30)
  return reward


def gil_heldout_factory(config, predictor: Predictor) -> ImportanceSource:
  """``gil_heldout``: see the module docstring."""
  source = make_policy_source(config, predictor,
                              reward_fn=heldout_reward(config, predictor),
                              extra_keys=("meta",), diagnose_reward="heldout")
  base_init = source.init

  def init(key, ctx):
    credit.check_heldout_possible("gil_heldout", ctx.train, config.batch_size,
                                  config.source_config.meta_batch_size)
    return base_init(key, ctx)

  return source._replace(init=init)


register_source("gil_heldout", gil_heldout_factory, config=HeldoutPolicyConfig,
                looks_ahead=True)
