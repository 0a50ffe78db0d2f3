"""The authors' TF1 code choices, as switches (SPEC sec. 4; issue 11, sec. 3).

The paper and the authors' public code (gaoqitong/gradient-importance-learning,
``tabular_data/tabular_mlp_GIL_train.py``, ``qnetwork.py``) differ in several places.
Our defaults follow the paper; :class:`AuthorsMode` restores the code's choices one
at a time, so that each one's share of the paper's GIL > GIL-H > zero ordering can be
measured.  Every switch is off by default, and with all of them off the trainer runs
exactly its default program.

Predictor (:mod:`gil_jax.authors_predictor`):

1. ``batch_norm``: batch normalisation in training mode on the hidden layers (the
   code's ``slim.batch_norm``: centre, no scale, epsilon 1e-3, no bias in the dense
   layers).  The code takes per-example gradients of each example's loss *through
   the batch-coupled forward pass*, scales the first layer's per-example rows by
   ``a_b`` and averages, so the importance also gates what each loss contributes
   through the batch statistics.  Evaluation uses "precise BN" statistics, not the
   code's moving averages (which made its test accuracy swing between 0.13 and 0.79
   run to run, SPEC sec. 4).
2. ``l2``: weight decay inside the per-example loss (the code's
   ``l2_regularizer(0.02)`` on the hidden kernels and every bias, averaged over the
   regularised tensors by ``tf.reduce_mean`` of the collection), so its gradient on
   the first kernel's row ``j`` is scaled by ``mean_b a_bj``.

Policy (options of :func:`gil_jax.policy_source.make_policy_source`):

3. ``reward_before_update``: the reward is the batch's loss *before* the update,
   averaged over the batch and copied to every transition (the code's
   ``r = np.repeat(-kld, batch_size)``; we keep cross-entropy, as in the default).
   The reward then does not depend on the action at all.
4. ``one_draw_per_batch``: one behaviour-policy draw (actor / heuristic / random)
   for the whole batch, not one per sample.
5. ``near_one_random``: random actions drawn from the component centred at 1 only
   (the code's ``timesteps // 2`` with ``timesteps = 1`` empties the other half).
6. ``rl_lr_decay``: actor and critic learning rates x0.965 every 10 steps while the
   mean reward of the last 10 steps is >= -25 (:class:`RLRateDecay`).

7. The sequence code's placeholder ``3 x`` the training maximum is a data choice:
   ``gil_jax.data.prepare_sequences(placeholder="3max")`` (launcher:
   ``config.placeholder = "3max"``, e.g. ``launch/configs/sepsis2019.py``'s grid).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

# The code's RL learning-rate decay: rates x RATE every EVERY steps while the mean
# reward of the last EVERY steps is >= THRESHOLD.
RL_LR_DECAY_RATE = 0.965
RL_LR_DECAY_EVERY = 10
RL_LR_DECAY_THRESHOLD = -25.0
# Methods the authors' predictor rule (switches 1-2) supports: importance from a
# constant or from GIL's policy.  Sources that look ahead through the predictor's
# update (held-out credit, meta-gradients) and the credit diagnostics assume the
# factored update of eq. (4), which batch norm and gated weight decay replace.
PREDICTOR_METHODS = ("zero", "mean", "gil_h", "gil_const", "gil", "gil_d",
                     "gil_random", "gil_frozen")
# Methods whose source is GIL's DDPG policy (gil_jax.policy_source), which reads
# switches 3-6.  (For the controls gil_random / gil_frozen, 3 and 6 change nothing:
# they never update the actor or the critic.)
POLICY_METHODS = ("gil", "gil_d", "gil_random", "gil_frozen", "gil_heldout")
# Methods with a constant importance: no policy, so switches 3-6 do nothing there;
# they are accepted so that one config can run GIL beside these baselines.
CONSTANT_METHODS = ("zero", "mean", "gil_h", "gil_const")


class AuthorsMode(NamedTuple):
  """Switches restoring the authors' code choices (all off = the paper's method).

  Attributes:
    batch_norm: BN in training mode on the predictor's hidden layers, with
      per-example (batch-coupled) gradients gated by the importance (switch 1).
    l2: coefficient of the L2 term inside each example's loss (switch 2; 0 = off,
      the authors' 0.02).
    reward_before_update: the batch's mean reward before the update, shared by
      every transition (switch 3).
    one_draw_per_batch: one behaviour-policy mode per batch (switch 4).
    near_one_random: random actions from the near-1 component only (switch 5).
    rl_lr_decay: actor and critic rates x0.965 every 10 steps while the mean reward
      of the last 10 steps is >= -25 (switch 6).
    bn_eval_rows: with ``batch_norm``, how many fixed training rows (evenly spaced
      over the training split) the evaluation's BN statistics are computed on.
  """
  batch_norm: bool = False
  l2: float = 0.0
  reward_before_update: bool = False
  one_draw_per_batch: bool = False
  near_one_random: bool = False
  rl_lr_decay: bool = False
  bn_eval_rows: int = 1024

  @property
  def changes_predictor(self) -> bool:
    """Whether the predictor's model or update differ from the default (1-2)."""
    return bool(self.batch_norm) or self.l2 > 0

  @property
  def changes_policy(self) -> bool:
    """Whether GIL's policy differs from the default (3-6)."""
    return bool(self.reward_before_update or self.one_draw_per_batch
                or self.near_one_random or self.rl_lr_decay)


def check(config) -> None:
  """Raises ``ValueError`` if ``config.authors`` does not fit the rest of ``config``.

  Args:
    config: a :class:`gil_jax.train.TrainConfig`.
  """
  authors = config.authors
  if not isinstance(authors, AuthorsMode):
    raise TypeError(f"authors must be an AuthorsMode, got {type(authors).__name__}")
  if not (math.isfinite(authors.l2) and authors.l2 >= 0):
    raise ValueError(f"authors.l2 must be finite and >= 0, got {authors.l2}")
  if authors.bn_eval_rows < 1:
    raise ValueError(f"authors.bn_eval_rows must be >= 1, got {authors.bn_eval_rows}")
  if (authors.changes_policy
      and config.method not in POLICY_METHODS + CONSTANT_METHODS):
    # Its importance is learned by another rule, which would ignore them silently.
    raise ValueError(f"authors.reward_before_update / one_draw_per_batch / "
                     f"near_one_random / rl_lr_decay act on GIL's DDPG policy "
                     f"(methods {POLICY_METHODS}); method {config.method!r} does not "
                     f"use it")
  if authors.reward_before_update and config.method == "gil_heldout":
    raise ValueError("authors.reward_before_update does not apply to gil_heldout: "
                     "its reward is the held-out credit of the update itself")
  if not authors.changes_predictor:
    return
  if config.model != "mlp":
    raise ValueError(f"authors.batch_norm / authors.l2 are implemented for the MLP "
                     f"predictor only (the authors' tabular code), got model "
                     f"{config.model!r}")
  if config.method not in PREDICTOR_METHODS:
    raise ValueError(f"authors.batch_norm / authors.l2 support methods "
                     f"{PREDICTOR_METHODS}, got {config.method!r} (its source looks "
                     f"ahead through the factored update they replace)")
  if config.diagnostics:
    raise ValueError("diagnostics (exact credit through the factored update) are not "
                     "available with authors.batch_norm / authors.l2")
  if authors.batch_norm and config.batch_size < 2:
    raise ValueError(f"batch norm in training mode needs batch_size >= 2, got "
                     f"{config.batch_size}")


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
