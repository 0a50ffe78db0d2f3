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
rewards plug in through ``reward_fn`` (see :mod:`gil_jax.sources.policy.heldout`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from gil_jax import metrics as metrics_lib
from gil_jax.authors import rl_rate_decay
from gil_jax.config import check_positive
from gil_jax.predictor import Predictor, StepContext
from gil_jax.sources import credit
from gil_jax.sources.base import ImportanceSource, register_source
from gil_jax.sources.policy import ddpg as ddpg_lib
from gil_jax.sources.policy import exploration as exploration_lib
from gil_jax.sources.policy import replay as replay_lib
from gil_jax.sources.policy import rewards as rewards_lib
from gil_jax.sources.policy.networks import Actor, Critic


class PolicyHParams(NamedTuple):
  """GIL's scalars that one compiled program can vary across runs."""
  actor_lr: float
  critic_lr: float
  p2: float
  p3: float


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
  """Options of GIL's DDPG policy (App. D) and of its controls.

  Attributes:
    actor_lr, critic_lr: Adam rates of the actor and the critic.
    gamma: discount.
    tau: Polyak averaging of the target networks.
    replay_capacity: transitions the replay buffer holds.
    rl_batch_size: transitions per DDPG update.
    actor_hidden, critic_hidden: widths (the critic merges the action in its
      second layer, so it needs two or more).
    exploration: the behaviour policy's schedule (eq. 42).
    meta_batch_size: training rows outside the batch on which the diagnostics
      (and ``gil_heldout``'s reward) measure the held-out credit.
    reward_before_update, one_draw_per_batch, near_one_random, rl_lr_decay: the
      authors' code choices 3-6 (:mod:`gil_jax.authors`); all off = the paper.
  """
  actor_lr: float = 1e-4
  critic_lr: float = 1e-3
  gamma: float = 0.99
  tau: float = 1e-3
  replay_capacity: int = 10_000
  rl_batch_size: int = 128
  actor_hidden: tuple[int, ...] = (400, 300)
  critic_hidden: tuple[int, ...] = (400, 300)
  exploration: exploration_lib.Exploration = exploration_lib.Exploration()
  meta_batch_size: int = 128
  reward_before_update: bool = False
  one_draw_per_batch: bool = False
  near_one_random: bool = False
  rl_lr_decay: bool = False

  def __post_init__(self):
    for name in ("actor_hidden", "critic_hidden"):
      widths = tuple(int(w) for w in getattr(self, name))
      if not widths or any(w < 1 for w in widths):
        raise ValueError(f"{name} widths must be >= 1, got {getattr(self, name)}")
      object.__setattr__(self, name, widths)
    if len(self.critic_hidden) < 2:
      raise ValueError(f"critic_hidden needs two widths or more (a state layer, then "
                       f"the layer merging the action), got {self.critic_hidden}")
    for name in ("replay_capacity", "rl_batch_size", "meta_batch_size"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
    if not 0 <= self.gamma <= 1:
      raise ValueError(f"gamma must lie in [0, 1], got {self.gamma}")
    if not 0 < self.tau <= 1:
      raise ValueError(f"tau must lie in (0, 1], got {self.tau}")
    e = self.exploration
    if not 0 < e.decay <= 1:
      raise ValueError(f"exploration decay must lie in (0, 1], got {e.decay}")
    self.check_hparams(self.hparams())

  def hparams(self) -> PolicyHParams:
    return PolicyHParams(actor_lr=self.actor_lr, critic_lr=self.critic_lr,
                         p2=self.exploration.p2, p3=self.exploration.p3)

  def check_hparams(self, hp) -> None:
    """Raises ``ValueError`` unless ``hp`` (this config's or an override) is valid."""
    check_positive("actor_lr", float(hp.actor_lr))
    check_positive("critic_lr", float(hp.critic_lr))
    p2, p3 = float(hp.p2), float(hp.p3)
    if not (0 <= p2 and 0 <= p3 and p2 + p3 <= 1):
      raise ValueError(f"exploration needs p2, p3 >= 0 and p2 + p3 <= 1, got "
                       f"p2={p2}, p3={p3}")
    e = self.exploration
    if not (0 <= e.p2_floor <= p2 and 0 <= e.p3_floor <= p3):
      raise ValueError(f"exploration floors must lie in [0, p2] and [0, p3], got "
                       f"p2={p2}, p3={p3} with floors {e.p2_floor}, {e.p3_floor}")


class GILDHParams(NamedTuple):
  """GIL-D's scalars: GIL's and the weight of ``D`` in its reward (eq. 43)."""
  actor_lr: float
  critic_lr: float
  p2: float
  p3: float
  gil_d_c: float


@dataclasses.dataclass(frozen=True)
class GILDConfig(PolicyConfig):
  """Options of GIL-D: GIL's and ``gil_d_c``, the weight of ``D`` (eq. 43)."""
  gil_d_c: float = 5.0

  def hparams(self) -> GILDHParams:
    return GILDHParams(*super().hparams(), gil_d_c=self.gil_d_c)

  def check(self, config) -> None:
    if config.batch_size % 4:
      raise ValueError(f"gil_d needs a batch size divisible by 4 (eq. 43's "
                       f"quarter-batches), got {config.batch_size}")


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
  # The authors' RL learning-rate decay (PolicyConfig.rl_lr_decay), else None.
  lr_decay: rl_rate_decay.RLRateDecay | None = None


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
                                    ctx.batch.y, c=ctx.hparams.source.gil_d_c)
  return reward


def _float32_metrics(out):
  state, metrics = out
  return state, {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}


def make_policy_source(config, predictor: Predictor, *,
                       reward_fn: RewardFn | None = None, actor: str = "learned",
                       balanced_batches: bool = False,
                       extra_keys: tuple[str, ...] = (),
                       diagnose_reward: str = "own_loss") -> ImportanceSource:
  """GIL's DDPG importance source.

  Args:
    config: the run's ``TrainConfig``; its ``source_config`` is a
      :class:`PolicyConfig`, whose authors' switches 3-6 this source reads:
      ``reward_before_update`` (the reward of ``reward_fn`` at the parameters
      *before* the update, averaged over the batch and given to every transition),
      ``one_draw_per_batch``, ``near_one_random`` and ``rl_lr_decay``.
    predictor: the step's :class:`~gil_jax.predictor.Predictor`.
    reward_fn: the per-sample reward after the update; default the paper's
      (:func:`own_loss_reward`).
    actor: ``"learned"`` (GIL), ``"frozen"`` (actor kept at its initialisation, no
      DDPG updates) or ``"none"`` (actor never used: its share of the behaviour
      policy goes to random actions; no DDPG updates).
    balanced_batches: class-balanced batches (GIL-D).
    extra_keys: PRNG keys the reward needs, appended to the step's split.
    diagnose_reward: which exact effect the diagnostics compare the critic with:
      ``"own_loss"`` (the paper's reward) or ``"heldout"`` (held-out credit).

  Returns:
    An :class:`~gil_jax.sources.base.ImportanceSource`.
  """
  if actor not in ACTOR_MODES:
    raise ValueError(f"actor must be one of {ACTOR_MODES}, got {actor!r}")
  if reward_fn is None:
    reward_fn = own_loss_reward(predictor)
  policy = config.source_config
  is_seq = predictor.is_sequence
  learns = actor == "learned"
  ddpg = ddpg_lib.make_ddpg(
      Actor(action_dim=predictor.num_features, hidden=policy.actor_hidden),
      Critic(hidden=policy.critic_hidden), gamma=policy.gamma, tau=policy.tau)

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
                       replay=replay_lib.init(example, policy.replay_capacity),
                       pending=pending,
                       lr_decay=(rl_rate_decay.rl_rate_decay_init()
                                 if policy.rl_lr_decay else None))

  def learn(pol: PolicyState, s, keys, ctx: StepContext):
    """Completes the previous step's transition now that its ``s' = s`` is known,
    stores it (LSTM: its real steps only) and updates actor and critic (Alg. 1,
    line 14 of the previous iteration)."""
    hp = ctx.hparams.source
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
    if policy.rl_lr_decay:
      actor_lr = actor_lr * pol.lr_decay.scale
      critic_lr = critic_lr * pol.lr_decay.scale
    if learns:
      ddpg_state, metrics = jax.lax.cond(
          replay.size > 0,
          lambda: _float32_metrics(ddpg.update(
              pol.ddpg, replay_lib.sample(replay, keys["replay"],
                                          policy.rl_batch_size),
              actor_lr=actor_lr, critic_lr=critic_lr)),
          lambda: no_update)
    else:
      ddpg_state, metrics = no_update
    if policy.rl_lr_decay:
      # The authors decay the rates after the DDPG update of the step whose reward
      # completes the window; that update is this one (it belongs to step - 1).
      decayed = rl_rate_decay.rl_rate_decay_update(pol.lr_decay, ctx.step - 1,
                                                   done.r.mean())
      pol = pol._replace(lr_decay=jax.tree.map(
          lambda new, old: jnp.where(ctx.step > 0, new, old), decayed,
          pol.lr_decay))
      metrics = {**metrics, "rl_lr_scale": pol.lr_decay.scale}
    return pol._replace(ddpg=ddpg_state, replay=replay), metrics

  def behave(pol: PolicyState, s, keys, ctx: StepContext):
    """The behaviour action of eq. (42) and the share the actor chose."""
    hp = ctx.hparams.source
    p2, p3 = exploration_lib.probabilities(
        policy.exploration._replace(p2=hp.p2, p3=hp.p3), ctx.step)
    k_beh = keys["behaviour"]
    if actor == "none":
      # The actor's share of eq. (42) goes to random actions: a second random draw
      # stands in for pi(s), so mode choices and the other draws equal GIL's.
      k_beh, k_stand_in = jax.random.split(k_beh)
      proposal = exploration_lib.random_importance(
          k_stand_in, ctx.batch.m.shape, policy.exploration.sigma,
          near_one_only=policy.near_one_random)
    else:
      proposal = ddpg.act(pol.ddpg.actor, s)
    action, mode = exploration_lib.behaviour_action(
        k_beh, proposal, ctx.batch.m, p2, p3, policy.exploration.sigma,
        one_draw_per_batch=policy.one_draw_per_batch,
        near_one_only=policy.near_one_random)                             # eq. (42)
    actor_share = (mode == exploration_lib.ACTOR).mean()
    if actor == "none":
      actor_share = jnp.zeros_like(actor_share)
    return action, actor_share

  def propose(pol: PolicyState, keys, ctx: StepContext):
    # The RL state s = (x, m, zeta, y_hat) (sec. 2.3; LSTM: per step,
    # (x_t, m_t, c_t, h_t)) from the step's forward pass.
    s, valid = predictor.observe(ctx.batch, ctx.logits, ctx.features)
    pol, rl_metrics = learn(pol, s, keys, ctx)
    action, actor_share = behave(pol, s, keys, ctx)
    pol = pol._replace(pending=pol.pending._replace(s=s, valid=valid))
    return action, pol, {"importance": action.mean(), "actor_share": actor_share,
                         **rl_metrics}

  def observe(pol: PolicyState, keys, ctx: StepContext, action, params_after):
    if policy.reward_before_update:
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
    s, _ = predictor.observe(ctx.batch, ctx.logits, ctx.features)
    return credit.policy_diagnostics(predictor, ddpg, pol.ddpg, s, ctx, key,
                                     heldout_rows=policy.meta_batch_size,
                                     reward=diagnose_reward)

  return ImportanceSource(
      init=init, propose=propose, observe=observe,
      key_names=KEY_NAMES + tuple(extra_keys),
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


register_source("gil", gil_factory, config=PolicyConfig)
register_source("gil_d", gil_d_factory, config=GILDConfig)
register_source("gil_random", gil_random_factory, config=PolicyConfig)
register_source("gil_frozen", gil_frozen_factory, config=PolicyConfig)
