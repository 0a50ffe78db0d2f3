"""GIL training: pure, jitted train steps and an on-device training loop.

``make_trainer(config, num_features, num_classes)`` returns a :class:`Trainer` of pure
functions (purejaxrl style):

* ``init(rng, train) -> TrainState``
* ``run(state, train, val, num_evals) -> (state, history)``: ``num_evals`` blocks of
  ``config.eval_every`` steps, each followed by a validation pass that keeps the
  best-on-validation parameters in the state.  Everything, replay buffer included,
  stays on device inside ``lax.scan``; one host call runs many steps.
* ``predict(params, x) -> probs``.

Methods (``config.method``):

* ``gil``: importance from the DDPG behaviour policy (Alg. 1, App. D eq. 42).
* ``gil_h``: importance = mask ``m`` (no RL).
* ``zero``: importance = 1 on placeholder-filled input (plain training).
* ``mean``: importance = 1 on mean-imputed input (see :func:`method_inputs`).
* ``gil_d``: GIL with class-balanced batches and the D term in the reward (eq. 43).

Models (``config.model``): ``mlp``, ``lstm`` (encoder = input kernels) and ``grud``
(GRU-D, a time-series baseline; plain methods only, ``zero`` or ``mean``).

One GIL step (Alg. 1, lines 6-14) for the current batch with state ``s``:
  1. ``a ~ beta(s)`` (eq. 42);
  2. predictor update whose encoder-kernel gradient is ``sum_b (x_b*a_b)^T delta_b``;
  3. reward ``r_b = -CE(y_b, f(x_b))`` with the *updated* predictor, per sample (the
     authors use a KL form of the same quantity, computed before the update and shared
     by the whole batch; we follow the paper's definition);
  4. the next batch and its state ``s'`` under the updated predictor;
  5. the per-sample transitions ``(s, a, r, s')`` enter the replay buffer and one DDPG
     update of actor and critic follows, with Polyak-averaged targets.
Steps 4-5 of iteration t are carried out at the start of iteration t+1, whose forward
pass computes ``s'`` anyway (same parameters, same batch); the order of updates is
exactly Alg. 1's.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gil_jax import ddpg as ddpg_lib
from gil_jax import metrics as metrics_lib
from gil_jax import policy as policy_lib
from gil_jax import replay as replay_lib
from gil_jax.data import Prepared, Split, mean_imputed
from gil_jax.importance import importance_weighted_encoder
from gil_jax import rewards as rewards_lib
from gil_jax.models import Actor, Critic, MLPPredictor, policy_state
from gil_jax.sequence import (GRUD, LSTMPredictor, sequence_policy_state,
                              time_since_observed)

METHODS = ("gil", "gil_d", "gil_h", "zero", "mean")
MODELS = ("mlp", "lstm", "grud")
SEQUENCE_MODELS = ("lstm", "grud")
ENCODER_KERNEL = ("params", "encoder", "kernel")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything that defines one training run (hashable: it is a static jit argument).

  Defaults follow the paper and the authors' tabular code where they state a value.
  """
  method: str = "gil"
  model: str = "mlp"                  # "mlp" or "lstm" (hidden[0] = LSTM width)
  hidden: tuple[int, ...] = (500, 500)
  batch_size: int = 128
  num_steps: int = 2000
  eval_every: int = 100
  optimizer: str = "adam"            # "adam" or "sgd" (Adam cancels constant scales)
  learning_rate: float = 1e-3
  lr_decay_steps: int = 1000         # exponential decay, staircase
  lr_decay_rate: float = 1.0         # 1.0 = constant learning rate
  selection_metric: str = "accuracy"  # see metrics.SELECTION_METRICS
  # Diagnostic only: also score the TEST split at every eval and keep the trace in
  # the history as ``test_score`` (the authors' protocol picks the checkpoint with
  # the best test score; we never select on it, but can measure how optimistic
  # that protocol is).  Costs one test-set pass per eval.
  track_test: bool = False
  # GIL policy (App. D).
  actor_lr: float = 1e-4
  critic_lr: float = 1e-3
  gamma: float = 0.99
  tau: float = 1e-3
  replay_capacity: int = 10_000
  rl_batch_size: int = 128
  actor_hidden: tuple[int, ...] = (400, 300)
  critic_hidden: tuple[int, ...] = (400, 300)
  exploration: policy_lib.Exploration = policy_lib.Exploration()
  gil_d_c: float = 5.0                # weight of D in GIL-D's reward (eq. 43)

  def __post_init__(self):
    if self.method not in METHODS:
      raise ValueError(f"unknown method {self.method!r}; choose from {METHODS}")
    for name in ("batch_size", "num_steps", "eval_every", "replay_capacity",
                 "rl_batch_size", "lr_decay_steps"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
    if self.num_steps % self.eval_every:
      raise ValueError(f"num_steps ({self.num_steps}) must be a multiple of "
                       f"eval_every ({self.eval_every})")
    if self.model not in MODELS:
      raise ValueError(f"unknown model {self.model!r}; choose from {MODELS}")
    if self.model == "grud" and self.method not in ("zero", "mean"):
      raise ValueError(f"model 'grud' has no importance-weighted encoder; use it "
                       f"with method 'zero' or 'mean', got {self.method!r}")
    if self.method == "gil_d" and self.batch_size % 4:
      raise ValueError(f"gil_d needs a batch size divisible by 4 (eq. 43's "
                       f"quarter-batches), got {self.batch_size}")
    if self.optimizer not in ("adam", "sgd"):
      raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
    if self.selection_metric not in metrics_lib.SELECTION_METRICS:
      raise ValueError(f"unknown selection metric {self.selection_metric!r}; "
                       f"choose from {metrics_lib.SELECTION_METRICS}")
    if not self.hidden:
      raise ValueError("hidden must name at least the encoder width")
    e = self.exploration
    if not (0 <= e.p2 and 0 <= e.p3 and e.p2 + e.p3 <= 1):
      raise ValueError(f"exploration needs p2, p3 >= 0 and p2 + p3 <= 1, got {e}")
    if not (0 <= e.p2_floor <= e.p2 and 0 <= e.p3_floor <= e.p3):
      raise ValueError(f"exploration floors must lie in [0, p2] and [0, p3], got {e}")
    if not 0 < e.decay <= 1:
      raise ValueError(f"exploration decay must lie in (0, 1], got {e.decay}")

  @property
  def num_evals(self) -> int:
    return self.num_steps // self.eval_every


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
  """GIL's RL part of the training state.

  ``pending`` is the previous step's transition still waiting for its next state
  ``s'``: that is the state of the next batch under the updated predictor, which the
  next step computes anyway in its training forward pass, so the transition is
  completed and stored there (Alg. 1, lines 11-14) instead of paying a forward pass
  twice.
  """
  ddpg: ddpg_lib.DDPGState
  replay: replay_lib.ReplayBuffer
  pending: Pending




class HParams(NamedTuple):
  """Scalar hyper-parameters held in the state, so that one compiled program can run
  many of them side by side (``vmap``).  Defaults come from :class:`TrainConfig`."""
  learning_rate: jax.Array
  actor_lr: jax.Array
  critic_lr: jax.Array
  p2: jax.Array
  p3: jax.Array
  gil_d_c: jax.Array   # weight of D in GIL-D's reward


def default_hparams(config: TrainConfig, **overrides) -> HParams:
  """The config's hyper-parameters as float32 scalars, with optional overrides."""
  values = dict(learning_rate=config.learning_rate, actor_lr=config.actor_lr,
                critic_lr=config.critic_lr, p2=config.exploration.p2,
                p3=config.exploration.p3, gil_d_c=config.gil_d_c)
  unknown = set(overrides) - set(values)
  if unknown:
    raise ValueError(f"unknown hyper-parameters {sorted(unknown)}; "
                     f"choose from {sorted(values)}")
  values.update(overrides)
  # Re-check what TrainConfig checks, for the overridden values.
  dataclasses.replace(config, learning_rate=float(values["learning_rate"]),
                      exploration=config.exploration._replace(
                          p2=float(values["p2"]), p3=float(values["p3"])))
  return HParams(**{k: jnp.asarray(v, jnp.float32) for k, v in values.items()})


class TrainState(NamedTuple):
  step: jax.Array
  rng: jax.Array                  # raw uint32 key data (checkpointable)
  hparams: HParams
  params: Any
  opt_state: Any
  batch_idx: jax.Array            # [B] rows of the current training batch
  policy: PolicyState | None      # None unless method == "gil"
  best_params: Any
  best_score: jax.Array
  best_step: jax.Array


class Trainer(NamedTuple):
  """Pure functions of one run.  ``init``/``run``/``predict`` are jitted (``run``
  donates its state); ``init_fn``/``run_fn`` are the same functions un-jitted, for
  composing with ``vmap`` or your own ``jit``."""
  config: TrainConfig
  model: Any                      # MLPPredictor or LSTMPredictor
  init: Callable[..., TrainState]
  run: Callable[..., tuple[TrainState, dict]]
  predict: Callable[[Any, Split], jax.Array]   # params, split -> probs
  init_fn: Callable[..., TrainState]
  run_fn: Callable[..., tuple[TrainState, dict]]


def make_optimizer(config: TrainConfig, learning_rate=None
                   ) -> optax.GradientTransformation:
  """The predictor's optimizer with exponential learning-rate decay.

  ``learning_rate`` (default ``config.learning_rate``) may be a traced scalar; the
  optimizer state's structure does not depend on it.
  """
  if learning_rate is None:
    learning_rate = config.learning_rate
  schedule = optax.exponential_decay(
      init_value=learning_rate, transition_steps=config.lr_decay_steps,
      decay_rate=config.lr_decay_rate, staircase=True)
  if config.optimizer == "adam":
    return optax.adam(schedule)
  return optax.sgd(schedule)


def method_inputs(method: str, prepared: Prepared) -> tuple[Split, Split, Split]:
  """The (train, val, test) splits a method trains and is scored on."""
  splits = (prepared.train, prepared.val, prepared.test)
  if method == "mean":
    return tuple(mean_imputed(s, prepared.train_mean) for s in splits)
  return splits


def _typed_key(key: jax.Array) -> jax.Array:
  """A typed PRNG key from either a typed key or raw uint32 key data."""
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    return key
  return jax.random.wrap_key_data(key)


def _take(split: Split, idx: jax.Array) -> Split:
  return jax.tree.map(lambda v: v[idx], split)


@functools.lru_cache(maxsize=64)
def make_trainer(config: TrainConfig, num_features: int,
                 num_classes: int) -> Trainer:
  """Builds the pure functions of one training run; see the module docstring.

  Cached by its (hashable) arguments, so repeated runs of one configuration reuse
  the compiled programs.
  """
  is_seq = config.model in SEQUENCE_MODELS
  if config.model == "lstm":
    model = LSTMPredictor(hidden_size=config.hidden[0], num_classes=num_classes)
  elif config.model == "grud":
    model = GRUD(hidden_size=config.hidden[0], num_classes=num_classes)
  else:
    model = MLPPredictor(hidden=tuple(config.hidden), num_classes=num_classes)
  is_gil = config.method in ("gil", "gil_d")
  balanced = config.method == "gil_d"

  def apply(params, batch: Split, importance=None, probe=None):
    """``(logits, features)``; features are zeta (MLP) or LSTMFeatures."""
    if config.model == "grud":
      # Standardised data: the observed training mean x_mean is 0 per variable.
      return model.apply(params, batch.x, batch.m, time_since_observed(batch.m),
                         batch.length, jnp.zeros(batch.x.shape[-1:], batch.x.dtype)
                         ), None
    if is_seq:
      return model.apply(params, batch.x, batch.length, importance,
                         encoder_probe=probe)
    return model.apply(params, batch.x, importance, encoder_probe=probe)

  def observe(batch: Split, logits, features):
    """The RL state: per sample (MLP) or per sample and step (LSTM), and validity."""
    if is_seq:
      return (sequence_policy_state(batch.x, batch.m, features.c, features.h,
                                    features.valid), features.valid)
    return policy_state(batch.x, batch.m, features, jax.nn.softmax(logits)), None

  def summary_features(features):
    """The per-sample features GIL-D's D term compares (MLP zeta, LSTM last h)."""
    return features.last_hidden if is_seq else features

  def optimizer(hparams: HParams | None) -> optax.GradientTransformation:
    tx = make_optimizer(config, None if hparams is None else hparams.learning_rate)
    if is_gil:
      # GIL picks the importance after the forward pass (it depends on zeta and
      # y_hat), so its step takes the plain backward pass and rewrites the kernel
      # gradient with the optax form of eq. (4); XLA drops the unused plain one.
      tx = optax.chain(importance_weighted_encoder(ENCODER_KERNEL), tx)
    return tx

  if is_gil:
    ddpg = ddpg_lib.make_ddpg(
        Actor(action_dim=num_features, hidden=tuple(config.actor_hidden)),
        Critic(hidden=tuple(config.critic_hidden)),
        gamma=config.gamma, tau=config.tau)
  batch_size = config.batch_size

  def loss_fn(params, batch, importance):
    logits, _ = apply(params, batch, importance)
    return jnp.mean(metrics_lib.cross_entropy(logits, batch.y))

  def predictor_update(params, opt_state, batch: Split, importance, hparams):
    loss, grads = jax.value_and_grad(loss_fn)(params, batch, importance)
    updates, opt_state = optimizer(hparams).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  def sample_idx(key, train: Split):
    if balanced:   # GIL-D: b / C rows of each class (App. D.1)
      return rewards_lib.balanced_batch_indices(key, train.y, batch_size,
                                                num_classes=num_classes)
    return jax.random.randint(key, (batch_size,), 0, train.x.shape[0])

  def flat(tree):
    """[B, T, ...] -> [B*T, ...] for the LSTM's per-step transitions."""
    if not is_seq:
      return tree
    return jax.tree.map(lambda v: v.reshape((-1,) + v.shape[2:]), tree)

  def init(rng: jax.Array, train: Split, hparams: HParams | None = None
           ) -> TrainState:
    """Initial state; ``rng`` is a key (typed or raw), ``hparams`` default to config."""
    if train.x.shape[-1] != num_features:
      raise ValueError(f"trainer built for {num_features} features, data has "
                       f"{train.x.shape[-1]}")
    if is_seq != (train.length is not None):
      raise ValueError(f"model {config.model!r} needs "
                       f"{'sequences with lengths' if is_seq else 'tabular rows'}; "
                       f"got data of shape {train.x.shape}")
    if hparams is None:
      hparams = default_hparams(config)
    rng = _typed_key(rng)
    rng, k_model, k_batch, k_rl = jax.random.split(rng, 4)
    if config.model == "grud":
      first = _take(train, jnp.arange(1))
      params = model.init(k_model, first.x, first.m, time_since_observed(first.m),
                          first.length, jnp.zeros(first.x.shape[-1:], first.x.dtype))
    else:
      params = model.init(k_model, *((train.x[:1], train.length[:1]) if is_seq
                                     else (train.x[:1],)))
    batch_idx = sample_idx(k_batch, train)
    policy = None
    if is_gil:
      batch = _take(train, batch_idx)
      logits, features = apply(params, batch)
      obs, valid = observe(batch, logits, features)
      obs_flat, m_flat = flat(obs), flat(batch.m)
      ddpg_state = ddpg.init(k_rl, obs_flat[:1], m_flat[:1])
      pending = Pending(s=obs, a=batch.m, r=jnp.zeros(obs.shape[:-1], jnp.float32),
                        valid=valid)
      example = ddpg_lib.Transition(s=obs_flat[0], a=m_flat[0],
                                    r=jnp.zeros((), jnp.float32), s_next=obs_flat[0])
      policy = PolicyState(ddpg=ddpg_state,
                           replay=replay_lib.init(example, config.replay_capacity),
                           pending=pending)
    return TrainState(step=jnp.zeros((), jnp.int32), rng=jax.random.key_data(rng),
                      hparams=hparams, params=params,
                      opt_state=optimizer(None).init(params), batch_idx=batch_idx,
                      policy=policy,
                      best_params=params, best_score=jnp.array(-jnp.inf, jnp.float32),
                      best_step=jnp.zeros((), jnp.int32))

  def plain_step(state: TrainState, train: Split):
    rng, k_next = jax.random.split(_typed_key(state.rng))
    batch = _take(train, state.batch_idx)
    importance = batch.m if config.method == "gil_h" else None
    params, opt_state, loss = predictor_update(state.params, state.opt_state, batch,
                                               importance, state.hparams)
    state = state._replace(step=state.step + 1, rng=jax.random.key_data(rng),
                           params=params, opt_state=opt_state,
                           batch_idx=sample_idx(k_next, train))
    return state, {"loss": loss}

  def gil_step(state: TrainState, train: Split):
    rng, k_beh, k_next, k_replay = jax.random.split(_typed_key(state.rng), 4)
    pol = state.policy
    hp = state.hparams
    batch = _take(train, state.batch_idx)

    # Forward pass of the predictor on the current batch; its features and
    # prediction form the RL state s = (x, m, zeta, y_hat) (sec. 2.3; LSTM: per
    # step, (x_t, m_t, c_t, h_t)).
    def loss_with_probe(params, probe):
      logits, features = apply(params, batch, probe=probe)
      return (jnp.mean(metrics_lib.cross_entropy(logits, batch.y)),
              (logits, features))

    width = 4 * config.hidden[0] if is_seq else config.hidden[0]
    probe = jnp.zeros(batch.x.shape[:-1] + (width,), jnp.float32)
    loss, vjp_fn, (logits, features) = jax.vjp(loss_with_probe, state.params, probe,
                                              has_aux=True)
    s, valid = observe(batch, logits, features)

    # The previous step's transition is complete now that s' = s is known; store it
    # (LSTM: its real steps only) and update actor and critic (Alg. 1, line 14 of
    # the previous iteration).
    done = Pending(*pol.pending)
    keep = jnp.broadcast_to(state.step > 0, done.r.shape)
    if done.valid is not None:
      keep = keep & done.valid
    replay = replay_lib.add(
        pol.replay, flat(ddpg_lib.Transition(done.s, done.a, done.r, s_next=s)),
        valid=keep.reshape(-1))
    ddpg_state, rl_metrics = jax.lax.cond(
        replay.size > 0,
        lambda: ddpg.update(pol.ddpg, replay_lib.sample(replay, k_replay,
                                                        config.rl_batch_size),
                            actor_lr=hp.actor_lr, critic_lr=hp.critic_lr),
        lambda: (pol.ddpg, {"critic_loss": jnp.float32(0), "actor_loss":
                            jnp.float32(0)}))

    p2, p3 = policy_lib.probabilities(
        config.exploration._replace(p2=hp.p2, p3=hp.p3), state.step)
    action, mode = policy_lib.behaviour_action(
        k_beh, ddpg.act(ddpg_state.actor, s), batch.m, p2, p3,
        config.exploration.sigma)                                   # eq. (42)
    grads, delta = vjp_fn(jnp.ones((), loss.dtype))
    x_enc = batch.x if valid is None else jnp.where(valid[..., None], batch.x, 0.0)
    updates, opt_state = optimizer(hp).update(grads, state.opt_state, state.params,
                                   encoder_inputs=x_enc, encoder_cotangents=delta,
                                   importance=action)               # eq. (4)
    params = optax.apply_updates(state.params, updates)
    logits_after, features_after = apply(params, batch)
    ce_after = metrics_lib.cross_entropy(logits_after, batch.y)
    if balanced:                                                    # eq. (43)
      reward = rewards_lib.gil_d_reward(ce_after, summary_features(features_after),
                                        batch.y, c=hp.gil_d_c)
    else:
      reward = -ce_after                                            # after the update
    if is_seq:   # the sequence's reward goes to each of its steps' transitions
      reward = jnp.broadcast_to(reward[:, None], s.shape[:2])
    state = state._replace(
        step=state.step + 1, rng=jax.random.key_data(rng), params=params,
        opt_state=opt_state, batch_idx=sample_idx(k_next, train),
        policy=PolicyState(ddpg=ddpg_state, replay=replay,
                           pending=Pending(s, action, reward, valid)))
    return state, {"loss": loss, "reward": reward.mean(),
                   "importance": action.mean(),
                   "actor_share": (mode == policy_lib.ACTOR).mean(),
                   **rl_metrics}

  step_fn = gil_step if is_gil else plain_step

  run = make_run(config, step_fn, lambda params, split: apply(params, split)[0])

  def predict(params, split: Split):
    logits, _ = apply(params, split)
    return jax.nn.softmax(logits)

  return Trainer(config=config, model=model, init=jax.jit(init),
                 run=jax.jit(run, static_argnames="num_evals", donate_argnums=0),
                 predict=jax.jit(predict), init_fn=init, run_fn=run)


def make_run(config: TrainConfig, step_fn: Callable, logits_fn: Callable
             ) -> Callable[..., tuple[TrainState, dict]]:
  """The on-device training loop around a step function.

  ``run(state, train, val, num_evals)`` scans ``num_evals`` blocks of
  ``config.eval_every`` calls of ``step_fn(state, train) -> (state, metrics)``; after
  each block it scores ``logits_fn(params, val)`` on the validation split and keeps
  the best parameters in the state.  Returns the state and per-block metrics.
  With ``monitor`` (a split, e.g. the test set), its score after each block is
  returned too, as ``test_score``; it never influences selection.
  """
  def run(state: TrainState, train: Split, val: Split, num_evals: int,
          monitor: Split | None = None):
    def block(state, _):
      state, step_metrics = jax.lax.scan(lambda s, _: step_fn(s, train), state, None,
                                         length=config.eval_every)
      logits = logits_fn(state.params, val)
      score = metrics_lib.selection_score(config.selection_metric, logits, val.y)
      # Strictly better only: ties keep the earlier (fewer-step) parameters.
      improved = score > state.best_score
      state = state._replace(
          best_params=jax.tree.map(lambda b, p: jnp.where(improved, p, b),
                                   state.best_params, state.params),
          best_score=jnp.where(improved, score, state.best_score),
          best_step=jnp.where(improved, state.step, state.best_step))
      out = jax.tree.map(jnp.mean, step_metrics)
      out.update(val_score=score, step=state.step)
      if monitor is not None:
        out["test_score"] = metrics_lib.selection_score(
            config.selection_metric, logits_fn(state.params, monitor), monitor.y)
      return state, out

    return jax.lax.scan(block, state, None, length=num_evals)

  return run


class FitResult(NamedTuple):
  """What :func:`fit` returns: best-on-validation parameters and their metrics."""
  params: Any
  best_step: int
  history: dict            # name -> np.ndarray [num_evals]
  val: dict                # metrics_lib.classification_metrics on validation
  test: dict               # ... on test, of the same (best-on-validation) parameters
  seconds: float           # wall time of the whole group of runs it belonged to
  actor_params: Any = None  # GIL: the policy's actor at the end of training


def _evals_per_call(num_evals: int, target: int) -> int:
  """Largest divisor of ``num_evals`` not above ``target``: one compiled chunk size."""
  target = max(1, min(target, num_evals))
  return max(d for d in range(1, target + 1) if num_evals % d == 0)


def predict_in_batches(trainer: Trainer, params, split: Split,
                       batch: int = 8192) -> np.ndarray:
  """Class probabilities for a split, in fixed-size chunks to bound device memory."""
  out = [np.asarray(trainer.predict(
      params, jax.tree.map(lambda v: jnp.asarray(v[i:i + batch]), split)))
         for i in range(0, len(split.y), batch)]
  return np.concatenate(out, 0)


def runs_mesh(devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
  """A 1-D mesh over ``devices`` (default: all) whose axis ``runs`` carries runs.

  Runs are independent, so with automatic sharding propagation XLA partitions the
  vmapped program along the run axis with no communication.
  """
  devices = list(jax.devices() if devices is None else devices)
  return jax.sharding.Mesh(np.array(devices), ("runs",),
                           axis_types=(jax.sharding.AxisType.Auto,))


def _to_host(tree):
  """Device arrays -> numpy; across hosts, gathers the runs every host holds."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    return multihost_utils.process_allgather(tree, tiled=True)
  return jax.device_get(tree)


def _stack(trees):
  return jax.tree.map(lambda *v: np.stack(v), *trees)


@functools.lru_cache(maxsize=64)
def _vmapped(trainer: Trainer, data_axis: int | None, num_evals: int,
             monitor: bool = False):
  """``init`` and ``run`` vmapped over runs and jitted (cached: compiled once).

  With ``monitor``, ``run_many`` takes a third split (scored, never selected on).
  """
  init_many = jax.jit(jax.vmap(trainer.init_fn, in_axes=(0, data_axis, 0)))
  def run(state, train, val, *test):
    return trainer.run_fn(state, train, val, num_evals, *test)
  run_many = jax.jit(
      jax.vmap(run, in_axes=(0, data_axis, data_axis) + ((data_axis,) if monitor
                                                         else ())),
      donate_argnums=0)
  return init_many, run_many


def fit(config: TrainConfig, prepared: Prepared, seed: int,
        progress: Callable[[dict], None] | None = None,
        steps_per_call: int = 500) -> FitResult:
  """Trains one run and scores its best-on-validation parameters (see fit_many)."""
  return fit_many(config, prepared, [seed], progress=progress,
                  steps_per_call=steps_per_call)[0]


def fit_many(config: TrainConfig, prepared: Prepared | Sequence[Prepared],
             seeds: Sequence[int], *, hparams: Sequence[HParams] | None = None,
             progress: Callable[[dict], None] | None = None,
             steps_per_call: int = 500, mesh: jax.sharding.Mesh | None = None,
             checkpoint_dir: str | None = None, resume: bool = False,
             keep_checkpoints: int = 3, profile_dir: str | None = None,
             trainer: Trainer | None = None) -> list[FitResult]:
  """Trains ``len(seeds)`` runs as one vmapped program and scores each.

  Runs differ by seed, and optionally by data (a list of ``Prepared`` of equal
  shapes, e.g. one per mask seed) and by scalar hyper-parameters.  Each run's numbers
  equal those of the same run trained alone (to float tolerance).

  Args:
    config: configuration shared by all runs (shapes, method, schedule).
    prepared: one dataset for every run, or one per run.
    seeds: one seed per run (initialisation, batches, policy randomness).
    hparams: optional per-run :class:`HParams` (see :func:`default_hparams`).
    progress: optional callback, called after each host call with ``step``,
      ``num_steps``, ``val_score`` / ``best_score`` / ``loss`` (lists over runs) and
      ``seconds``.
    steps_per_call: about how many steps one host call runs.
    mesh: optional 1-D device mesh; runs are sharded over its axis (padded to a
      multiple of its size), so N devices train N groups of runs in parallel.
    checkpoint_dir: if set, the full state is saved there (orbax) after every host
      call, keeping the last ``keep_checkpoints``.
    resume: continue from the latest good checkpoint in ``checkpoint_dir``.
    keep_checkpoints: how many checkpoints to keep.
    profile_dir: if set, a ``jax.profiler`` trace of the second host call (the first
      one compiles) is written there.
    trainer: a :class:`Trainer` to use instead of ``make_trainer(config, ...)``
      (e.g. a baseline's, such as the App. G input-space ablation); it must have
      been built for ``config`` and the data's feature and class counts.

  Returns:
    One :class:`FitResult` per seed, in order.
  """
  import time  # local: only the host loop measures time
  from gil_jax import checkpoint as ckpt_lib
  start = time.perf_counter()
  seeds = [int(s) for s in seeds]
  n_runs = len(seeds)
  if n_runs == 0:
    raise ValueError("fit_many needs at least one seed")
  per_run_data = not isinstance(prepared, Prepared)
  datasets = list(prepared) if per_run_data else [prepared]
  if per_run_data and len(datasets) != n_runs:
    raise ValueError(f"{len(datasets)} datasets for {n_runs} seeds")
  inputs = [method_inputs(config.method, p) for p in datasets]
  shapes = {tuple(jax.tree.map(np.shape, split) for split in inp[:2])
            for inp in inputs}
  if len(shapes) > 1:
    raise ValueError("runs of one group must share data shapes; got "
                     f"{len(shapes)} different ones")
  num_classes = datasets[0].num_classes
  if trainer is None:
    trainer = make_trainer(config, inputs[0][0].x.shape[-1], num_classes)
  if hparams is None:
    hparams = [default_hparams(config)] * n_runs
  if len(hparams) != n_runs:
    raise ValueError(f"{len(hparams)} hyper-parameter sets for {n_runs} seeds")

  # Pad the run axis to a multiple of the device count; padded runs repeat run 0.
  n_dev = 1 if mesh is None else mesh.devices.size
  n_pad = -n_runs % n_dev
  idx = list(range(n_runs)) + [0] * n_pad
  keys = np.stack([np.asarray(jax.random.key_data(jax.random.key(seeds[i])))
                   for i in idx])
  hp = _stack([hparams[i] for i in idx])
  if per_run_data:
    train = _stack([inputs[i][0] for i in idx])
    val = _stack([inputs[i][1] for i in idx])
    test = _stack([inputs[i][2] for i in idx]) if config.track_test else None
    data_axis = 0
  else:
    train, val = inputs[0][0], inputs[0][1]
    test = inputs[0][2] if config.track_test else None
    data_axis = None
  if test is not None and not len(inputs[0][2].y):
    raise ValueError("track_test needs a non-empty test split")

  if mesh is not None:
    axis = mesh.axis_names[0]
    runs_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(axis))
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    data_sharding = runs_sharding if per_run_data else replicated
    put_runs = lambda t: jax.device_put(t, runs_sharding)
    train, val, test = jax.device_put((train, val, test), data_sharding)
  else:
    put_runs = lambda t: jax.tree.map(jnp.asarray, t)
    train, val, test = jax.tree.map(jnp.asarray, (train, val, test))
  monitor = () if test is None else (test,)

  per_call = _evals_per_call(config.num_evals,
                             math.ceil(steps_per_call / config.eval_every))
  init_many, run_many = _vmapped(trainer, data_axis, per_call, bool(monitor))

  state = init_many(put_runs(keys), train, put_runs(hp))
  manager = None
  chunks: list[dict] = []
  if checkpoint_dir is not None:
    manager = ckpt_lib.Checkpointer(checkpoint_dir, keep=keep_checkpoints,
                                    fingerprint=ckpt_lib.fingerprint(
                                        config, seeds, hparams, train, val))
    if resume:
      fresh = state
      restored = manager.restore_latest(fresh)
      if restored is not None:
        # The fresh state is the template: restored arrays take its shardings.
        state, chunks = restored
        state = jax.tree.map(lambda like, v: jax.device_put(v, like.sharding),
                             fresh, state)
  done_calls = len(chunks)
  total_calls = config.num_evals // per_call
  for call in range(done_calls, total_calls):
    profiling = profile_dir is not None and call == min(done_calls + 1,
                                                        total_calls - 1)
    if profiling:
      jax.profiler.start_trace(profile_dir)
    state, hist = run_many(state, train, val, *monitor)
    hist = _to_host(hist)
    if profiling:
      jax.block_until_ready(state)
      jax.profiler.stop_trace()
    chunks.append({k: np.asarray(v)[:n_runs] for k, v in hist.items()})
    if manager is not None:
      manager.save(int(chunks[-1]["step"][0, -1]), state, chunks)
    if progress is not None:
      progress({"step": int(chunks[-1]["step"][0, -1]), "num_steps": config.num_steps,
                "val_score": chunks[-1]["val_score"][:, -1].tolist(),
                "best_score": np.asarray(_to_host(state.best_score))[:n_runs].tolist(),
                "loss": chunks[-1]["loss"][:, -1].tolist(),
                "seconds": time.perf_counter() - start})
  history = {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}
  if not np.all(np.isfinite(history["loss"])):
    bad = [seeds[i] for i in range(n_runs) if not np.isfinite(history["loss"][i]).all()]
    raise FloatingPointError(
        f"training loss became non-finite (method {config.method}, seeds {bad})")
  best_params = _to_host(state.best_params)
  actors = (None if state.policy is None
            else _to_host(state.policy.ddpg.actor))
  best_step = np.asarray(_to_host(state.best_step))
  seconds = time.perf_counter() - start
  results = []
  for i in range(n_runs):
    params = jax.tree.map(lambda v: v[i], best_params)
    _, val_i, test_i = inputs[i if per_run_data else 0]
    results.append(FitResult(
        params=params, best_step=int(best_step[i]),
        history={k: v[i] for k, v in history.items()},
        val=metrics_lib.classification_metrics(
            val_i.y, predict_in_batches(trainer, params, val_i)),
        test=metrics_lib.classification_metrics(
            test_i.y, predict_in_batches(trainer, params, test_i)),
        seconds=seconds,
        actor_params=(None if actors is None
                      else jax.tree.map(lambda v: v[i], actors))))
  return results
