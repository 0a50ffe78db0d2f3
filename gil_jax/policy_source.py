"""GIL's importance source: a DDPG actor-critic and its behaviour policy (sec. 2.3).

One step of Alg. 1 (lines 6-14) for the current batch with RL state ``s``:

  1. ``a ~ beta(s)`` (App. D, eq. 42): the actor, the heuristic ``a = m`` or a random
     action;
  2. the predictor's update with the kernel gradient ``sum_b (x_b*a_b)^T delta_b``
     (done by the trainer);
  3. the reward ``r_b = -CE(y_b, f(x_b))`` with the *updated* predictor, per sample
     (the authors use a KL form of the same quantity, computed before the update and
     shared by the whole batch; we follow the paper's definition);
  4. the next batch and its state ``s'`` under the updated predictor;
  5. the per-sample transitions ``(s, a, r, s')`` enter the replay buffer and one DDPG
     update of actor and critic follows, with Polyak-averaged targets.

Steps 4-5 of iteration t are carried out at the start of iteration t+1, whose forward
pass computes ``s'`` anyway (same parameters, same batch); the order of updates is
exactly Alg. 1's.  For the LSTM every (sample, step) is a transition and the
sequence's reward goes to each of its steps.

Variants share this module: GIL-D (class-balanced batches, reward of eq. 43), and two
controls that tell whether the actor learns anything: ``gil_random`` (the actor is
never used: where the behaviour policy would ask it, a random action is taken; no
DDPG updates) and ``gil_frozen`` (the actor stays at its initialisation).  Other
rewards plug in through ``reward_fn`` (see :mod:`gil_jax.heldout_policy`).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from gil_jax import authors_mode as authors_lib
from gil_jax import ddpg as ddpg_lib
from gil_jax import metrics as metrics_lib
from gil_jax import policy as policy_lib
from gil_jax import replay as replay_lib
from gil_jax import rewards as rewards_lib
from gil_jax.models import Actor, Critic
from gil_jax.sources import ImportanceSource, Predictor, StepContext

ACTOR_MODES = ("learned", "frozen", "none")
# Random streams of one GIL step, in split order (fixed: results reproduce).
KEY_NAMES = ("rng", "behaviour", "next", "replay")


class Pending(NamedTuple):
  """The last step's ``(s, a, r)``, waiting for its next state ``s'``.

  For the LSTM every (sample, step) is a transition: ``s`` is ``[B, T, S]``, ``a``
  ``[B, T, d]``, ``r`` ``[B, T]`` and ``valid`` ``[B, T]`` marks the real steps.
  """
  s: jax.Array   # [B, state_dim]
  a: jax.Array   # [B, d]
  r: jax.Array   # [B]
  valid: jax.Array | None = None


class PolicyState(NamedTuple):
  """GIL's RL state.

  ``pending`` is the previous step's transition still waiting for its next state
  ``s'``: that is the state of the next batch under the updated predictor, which the
  next step computes anyway in its training forward pass, so the transition is
  completed and stored there (Alg. 1, lines 11-14) instead of paying a forward pass
  twice.
  """
  ddpg: ddpg_lib.DDPGState
  replay: replay_lib.ReplayBuffer
  pending: Pending
  # The authors' RL learning-rate decay (authors.rl_lr_decay), else None.
  lr_decay: authors_lib.RLRateDecay | None = None


# reward_fn(keys, ctx, importance, params_after) -> per-sample reward [B].
RewardFn = Callable[[dict, StepContext, jax.Array, object], jax.Array]


def own_loss_reward(predictor: Predictor) -> RewardFn:
  """The paper's reward: ``r_b = -CE(y_b, f_theta'(x_b))`` after the update."""
  def reward(keys, ctx, importance, params_after):
    del keys, importance
    logits, _ = predictor.apply(params_after, ctx.batch)
    return -metrics_lib.cross_entropy(logits, ctx.batch.y)
  return reward


def gil_d_reward(predictor: Predictor) -> RewardFn:
  """GIL-D's reward ``-CE_b + c D(zeta+, zeta-)`` after the update (eq. 43)."""
  def reward(keys, ctx, importance, params_after):
    del keys, importance
    logits, features = predictor.apply(params_after, ctx.batch)
    ce = metrics_lib.cross_entropy(logits, ctx.batch.y)
    return rewards_lib.gil_d_reward(ce, predictor.summary_features(features),
                                    ctx.batch.y, c=ctx.hparams.gil_d_c)
  return reward


def _float32_metrics(out):
  state, metrics = out
  return state, {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}


def make_policy_source(config, predictor: Predictor, *,
                       reward_fn: RewardFn | None = None, actor: str = "learned",
                       balanced_batches: bool = False,
                       extra_keys: tuple[str, ...] = (),
                       diagnose_reward: str = "own_loss",
                       authors: authors_lib.AuthorsMode | None = None
                       ) -> ImportanceSource:
  """GIL's DDPG importance source.

  Args:
    config: the run's ``TrainConfig`` (RL fields: ``actor_hidden``,
      ``critic_hidden``, ``gamma``, ``tau``, ``replay_capacity``, ``rl_batch_size``,
      ``exploration``).
    predictor: the trainer's :class:`~gil_jax.sources.Predictor`.
    reward_fn: the per-sample reward after the update; default the paper's
      (:func:`own_loss_reward`).
    actor: ``"learned"`` (GIL), ``"frozen"`` (actor kept at its initialisation, no
      DDPG updates) or ``"none"`` (actor never used: its share of the behaviour
      policy goes to random actions; no DDPG updates).
    balanced_batches: class-balanced batches (GIL-D).
    extra_keys: PRNG keys the reward needs, appended to the step's split.
    diagnose_reward: which exact effect the diagnostics compare the critic with:
      ``"own_loss"`` (the paper's reward) or ``"heldout"`` (held-out credit).
    authors: the authors' code choices (default ``config.authors``); this source
      reads switches 3-6 (:mod:`gil_jax.authors_mode`): ``reward_before_update``
      (the reward of ``reward_fn`` at the parameters *before* the update, averaged
      over the batch and given to every transition), ``one_draw_per_batch``,
      ``near_one_random`` and ``rl_lr_decay``.

  Returns:
    An :class:`~gil_jax.sources.ImportanceSource` that chooses after the forward pass.
  """
  if actor not in ACTOR_MODES:
    raise ValueError(f"actor must be one of {ACTOR_MODES}, got {actor!r}")
  if reward_fn is None:
    reward_fn = own_loss_reward(predictor)
  if authors is None:
    authors = config.authors
  is_seq = predictor.is_sequence
  learns = actor == "learned"
  ddpg = ddpg_lib.make_ddpg(
      Actor(action_dim=predictor.num_features, hidden=tuple(config.actor_hidden)),
      Critic(hidden=tuple(config.critic_hidden)),
      gamma=config.gamma, tau=config.tau)

  def flat(tree):
    """[B, T, ...] -> [B*T, ...] for the LSTM's per-step transitions."""
    if not is_seq:
      return tree
    return jax.tree.map(lambda v: v.reshape((-1,) + v.shape[2:]), tree)

  def init(key, ctx: StepContext) -> PolicyState:
    obs, valid = predictor.observe(ctx.batch, ctx.logits, ctx.features)
    obs_flat, m_flat = flat(obs), flat(ctx.batch.m)
    ddpg_state = ddpg.init(key, obs_flat[:1], m_flat[:1])
    pending = Pending(s=obs, a=ctx.batch.m, r=jnp.zeros(obs.shape[:-1], jnp.float32),
                      valid=valid)
    example = ddpg_lib.Transition(s=obs_flat[0], a=m_flat[0],
                                  r=jnp.zeros((), jnp.float32), s_next=obs_flat[0])
    return PolicyState(ddpg=ddpg_state,
                       replay=replay_lib.init(example, config.replay_capacity),
                       pending=pending,
                       lr_decay=(authors_lib.rl_rate_decay_init()
                                 if authors.rl_lr_decay else None))

  def propose(pol: PolicyState, keys, ctx: StepContext):
    hp = ctx.hparams
    # The RL state s = (x, m, zeta, y_hat) (sec. 2.3; LSTM: per step,
    # (x_t, m_t, c_t, h_t)) from the trainer's forward pass.
    s, valid = predictor.observe(ctx.batch, ctx.logits, ctx.features)

    # The previous step's transition is complete now that s' = s is known; store it
    # (LSTM: its real steps only) and update actor and critic (Alg. 1, line 14 of
    # the previous iteration).
    done = Pending(*pol.pending)
    keep = jnp.broadcast_to(ctx.step > 0, done.r.shape)
    if done.valid is not None:
      keep = keep & done.valid
    replay = replay_lib.add(
        pol.replay, flat(ddpg_lib.Transition(done.s, done.a, done.r, s_next=s)),
        valid=keep.reshape(-1))
    no_update = (pol.ddpg, {"critic_loss": jnp.float32(0),
                            "actor_loss": jnp.float32(0)})
    actor_lr, critic_lr = hp.actor_lr, hp.critic_lr
    if authors.rl_lr_decay:
      actor_lr = actor_lr * pol.lr_decay.scale
      critic_lr = critic_lr * pol.lr_decay.scale
    if learns:
      ddpg_state, rl_metrics = jax.lax.cond(
          replay.size > 0,
          lambda: _float32_metrics(ddpg.update(
              pol.ddpg, replay_lib.sample(replay, keys["replay"],
                                          config.rl_batch_size),
              actor_lr=actor_lr, critic_lr=critic_lr)),
          lambda: no_update)
    else:
      ddpg_state, rl_metrics = no_update
    if authors.rl_lr_decay:
      # The authors decay the rates after the DDPG update of the step whose reward
      # completes the window; that update is this one (it belongs to step - 1).
      decayed = authors_lib.rl_rate_decay_update(pol.lr_decay, ctx.step - 1,
                                                 done.r.mean())
      pol = pol._replace(lr_decay=jax.tree.map(
          lambda new, old: jnp.where(ctx.step > 0, new, old), decayed,
          pol.lr_decay))
      rl_metrics = {**rl_metrics, "rl_lr_scale": pol.lr_decay.scale}

    p2, p3 = policy_lib.probabilities(
        config.exploration._replace(p2=hp.p2, p3=hp.p3), ctx.step)
    k_beh = keys["behaviour"]
    if actor == "none":
      # The actor's share of eq. (42) goes to random actions: a second random draw
      # stands in for pi(s), so mode choices and the other draws equal GIL's.
      k_beh, k_stand_in = jax.random.split(k_beh)
      proposal = policy_lib.random_importance(k_stand_in, ctx.batch.m.shape,
                                              config.exploration.sigma,
                                              near_one_only=authors.near_one_random)
    else:
      proposal = ddpg.act(ddpg_state.actor, s)
    action, mode = policy_lib.behaviour_action(
        k_beh, proposal, ctx.batch.m, p2, p3, config.exploration.sigma,
        one_draw_per_batch=authors.one_draw_per_batch,
        near_one_only=authors.near_one_random)                             # eq. (42)
    actor_share = (mode == policy_lib.ACTOR).mean()
    if actor == "none":
      actor_share = jnp.zeros_like(actor_share)
    pol = pol._replace(ddpg=ddpg_state, replay=replay,
                       pending=pol.pending._replace(s=s, valid=valid))
    return action, pol, {"importance": action.mean(), "actor_share": actor_share,
                         **rl_metrics}

  def observe(pol: PolicyState, keys, ctx: StepContext, action, params_after):
    if authors.reward_before_update:
      # The authors' reward: the batch's, before the update, shared by the batch;
      # it does not depend on the action.
      reward = reward_fn(keys, ctx, action, ctx.params)
      reward = jnp.broadcast_to(reward.mean(), reward.shape)
    else:
      reward = reward_fn(keys, ctx, action, params_after)
    if is_seq:   # the sequence's reward goes to each of its steps' transitions
      reward = jnp.broadcast_to(reward[:, None], pol.pending.s.shape[:2])
    pending = pol.pending._replace(a=action, r=reward)
    return pol._replace(pending=pending), {"reward": reward.mean()}

  def diagnose(pol: PolicyState, key, ctx: StepContext) -> dict:
    from gil_jax import credit  # local: diagnostics only
    s, _ = predictor.observe(ctx.batch, ctx.logits, ctx.features)
    return credit.policy_diagnostics(predictor, ddpg, pol.ddpg, s, ctx, key,
                                     config=config, reward=diagnose_reward)

  return ImportanceSource(
      init=init, propose=propose, observe=observe,
      key_names=KEY_NAMES + tuple(extra_keys), after_forward=True,
      balanced_batches=balanced_batches,
      export=lambda pol: pol.ddpg.actor, diagnose=diagnose)


def gil_factory(config, predictor: Predictor) -> ImportanceSource:
  """``gil``: the paper's method."""
  return make_policy_source(config, predictor)


def gil_d_factory(config, predictor: Predictor) -> ImportanceSource:
  """``gil_d``: class-balanced batches and the reward of eq. (43)."""
  return make_policy_source(config, predictor, reward_fn=gil_d_reward(predictor),
                            balanced_batches=True)


def gil_random_factory(config, predictor: Predictor) -> ImportanceSource:
  """``gil_random``: control with the actor never used (random + heuristic only)."""
  return make_policy_source(config, predictor, actor="none")


def gil_frozen_factory(config, predictor: Predictor) -> ImportanceSource:
  """``gil_frozen``: control with the actor kept at its initialisation."""
  return make_policy_source(config, predictor, actor="frozen")
