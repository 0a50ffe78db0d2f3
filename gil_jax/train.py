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
import math
from typing import Any, Callable, NamedTuple

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
from gil_jax.models import Actor, Critic, MLPPredictor, policy_state

METHODS = ("gil", "gil_h", "zero", "mean")
ENCODER_KERNEL = ("params", "encoder", "kernel")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything that defines one training run (hashable: it is a static jit argument).

  Defaults follow the paper and the authors' tabular code where they state a value.
  """
  method: str = "gil"
  hidden: tuple[int, ...] = (500, 500)
  batch_size: int = 128
  num_steps: int = 2000
  eval_every: int = 100
  optimizer: str = "adam"            # "adam" or "sgd" (Adam cancels constant scales)
  learning_rate: float = 1e-3
  lr_decay_steps: int = 1000         # exponential decay, staircase
  lr_decay_rate: float = 1.0         # 1.0 = constant learning rate
  selection_metric: str = "accuracy"  # see metrics.SELECTION_METRICS
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
  pending: ddpg_lib.Transition   # (s, a, r) of the last step; its s_next is unused


class TrainState(NamedTuple):
  step: jax.Array
  rng: jax.Array
  params: Any
  opt_state: Any
  batch_idx: jax.Array            # [B] rows of the current training batch
  policy: PolicyState | None      # None unless method == "gil"
  best_params: Any
  best_score: jax.Array
  best_step: jax.Array


class Trainer(NamedTuple):
  config: TrainConfig
  model: MLPPredictor
  init: Callable[..., TrainState]
  run: Callable[..., tuple[TrainState, dict]]
  predict: Callable[[Any, jax.Array], jax.Array]


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
  """The predictor's optimizer with exponential learning-rate decay."""
  schedule = optax.exponential_decay(
      init_value=config.learning_rate, transition_steps=config.lr_decay_steps,
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


def _take(split: Split, idx: jax.Array) -> Split:
  return jax.tree.map(lambda v: v[idx], split)


def make_trainer(config: TrainConfig, num_features: int,
                 num_classes: int) -> Trainer:
  """Builds the pure functions of one training run; see the module docstring."""
  model = MLPPredictor(hidden=tuple(config.hidden), num_classes=num_classes)
  is_gil = config.method == "gil"
  tx = make_optimizer(config)
  if is_gil:
    # GIL picks the importance after the forward pass (it depends on zeta and y_hat),
    # so its step takes the plain backward pass and rewrites the kernel gradient
    # with the optax form of eq. (4); XLA drops the unused plain kernel gradient.
    tx = optax.chain(importance_weighted_encoder(ENCODER_KERNEL), tx)
  if is_gil:
    ddpg = ddpg_lib.make_ddpg(
        Actor(action_dim=num_features, hidden=tuple(config.actor_hidden)),
        Critic(hidden=tuple(config.critic_hidden)),
        optax.adam(config.actor_lr), optax.adam(config.critic_lr),
        gamma=config.gamma, tau=config.tau)
  batch_size = config.batch_size

  def loss_fn(params, x, y, importance):
    logits, _ = model.apply(params, x, importance)
    return jnp.mean(metrics_lib.cross_entropy(logits, y))

  def predictor_update(params, opt_state, batch: Split, importance):
    loss, grads = jax.value_and_grad(loss_fn)(params, batch.x, batch.y, importance)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  def sample_idx(key, n):
    return jax.random.randint(key, (batch_size,), 0, n)

  def init(rng: jax.Array, train: Split) -> TrainState:
    if train.x.shape[-1] != num_features:
      raise ValueError(f"trainer built for {num_features} features, data has "
                       f"{train.x.shape[-1]}")
    rng, k_model, k_batch, k_rl = jax.random.split(rng, 4)
    params = model.init(k_model, train.x[:1])
    batch_idx = sample_idx(k_batch, train.x.shape[0])
    policy = None
    if is_gil:
      batch = _take(train, batch_idx)
      logits, zeta = model.apply(params, batch.x)
      obs = policy_state(batch.x, batch.m, zeta, jax.nn.softmax(logits))
      ddpg_state = ddpg.init(k_rl, obs[:1], batch.m[:1])
      pending = ddpg_lib.Transition(s=obs, a=batch.m,
                                    r=jnp.zeros(obs.shape[:1], jnp.float32),
                                    s_next=obs[:, :0])
      example = jax.tree.map(lambda v: v[0], pending._replace(s_next=obs))
      policy = PolicyState(ddpg=ddpg_state,
                           replay=replay_lib.init(example, config.replay_capacity),
                           pending=pending)
    return TrainState(step=jnp.zeros((), jnp.int32), rng=rng, params=params,
                      opt_state=tx.init(params), batch_idx=batch_idx, policy=policy,
                      best_params=params, best_score=jnp.array(-jnp.inf, jnp.float32),
                      best_step=jnp.zeros((), jnp.int32))

  def plain_step(state: TrainState, train: Split):
    rng, k_next = jax.random.split(state.rng)
    batch = _take(train, state.batch_idx)
    importance = batch.m if config.method == "gil_h" else None
    params, opt_state, loss = predictor_update(state.params, state.opt_state, batch,
                                               importance)
    state = state._replace(step=state.step + 1, rng=rng, params=params,
                           opt_state=opt_state,
                           batch_idx=sample_idx(k_next, train.x.shape[0]))
    return state, {"loss": loss}

  def gil_step(state: TrainState, train: Split):
    rng, k_beh, k_next, k_replay = jax.random.split(state.rng, 4)
    pol = state.policy
    batch = _take(train, state.batch_idx)

    # Forward pass of the predictor on the current batch; its features and
    # prediction form the RL state s = (x, m, zeta, y_hat) (sec. 2.3).
    def loss_with_probe(params, probe):
      logits, zeta = model.apply(params, batch.x, encoder_probe=probe)
      return jnp.mean(metrics_lib.cross_entropy(logits, batch.y)), (logits, zeta)

    probe = jnp.zeros((batch_size, config.hidden[0]), jnp.float32)
    loss, vjp_fn, (logits, zeta) = jax.vjp(loss_with_probe, state.params, probe,
                                          has_aux=True)
    s = policy_state(batch.x, batch.m, zeta, jax.nn.softmax(logits))

    # The previous step's transition is complete now that s' = s is known; store it
    # and update actor and critic (Alg. 1, line 14 of the previous iteration).
    replay = replay_lib.add(pol.replay, pol.pending._replace(s_next=s),
                            valid=jnp.broadcast_to(state.step > 0, (batch_size,)))
    ddpg_state, rl_metrics = jax.lax.cond(
        replay.size > 0,
        lambda: ddpg.update(pol.ddpg, replay_lib.sample(replay, k_replay,
                                                        config.rl_batch_size)),
        lambda: (pol.ddpg, {"critic_loss": jnp.float32(0), "actor_loss":
                            jnp.float32(0)}))

    p2, p3 = policy_lib.probabilities(config.exploration, state.step)
    action, mode = policy_lib.behaviour_action(
        k_beh, ddpg.act(ddpg_state.actor, s), batch.m, p2, p3,
        config.exploration.sigma)                                   # eq. (42)
    grads, delta = vjp_fn(jnp.ones((), loss.dtype))
    updates, opt_state = tx.update(grads, state.opt_state, state.params,
                                   encoder_inputs=batch.x, encoder_cotangents=delta,
                                   importance=action)               # eq. (4)
    params = optax.apply_updates(state.params, updates)
    logits_after, _ = model.apply(params, batch.x)
    reward = -metrics_lib.cross_entropy(logits_after, batch.y)     # after the update
    state = state._replace(
        step=state.step + 1, rng=rng, params=params, opt_state=opt_state,
        batch_idx=sample_idx(k_next, train.x.shape[0]),
        policy=PolicyState(ddpg=ddpg_state, replay=replay,
                           pending=ddpg_lib.Transition(s, action, reward,
                                                       pol.pending.s_next)))
    return state, {"loss": loss, "reward": reward.mean(),
                   "importance": action.mean(),
                   "actor_share": (mode == policy_lib.ACTOR).mean(),
                   **rl_metrics}

  step_fn = gil_step if is_gil else plain_step

  def run(state: TrainState, train: Split, val: Split, num_evals: int):
    def block(state, _):
      state, step_metrics = jax.lax.scan(lambda s, _: step_fn(s, train), state, None,
                                         length=config.eval_every)
      logits, _ = model.apply(state.params, val.x)
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
      return state, out

    return jax.lax.scan(block, state, None, length=num_evals)

  def predict(params, x):
    logits, _ = model.apply(params, x)
    return jax.nn.softmax(logits)

  return Trainer(config=config, model=model, init=jax.jit(init),
                 run=jax.jit(run, static_argnames="num_evals", donate_argnums=0),
                 predict=jax.jit(predict))


class FitResult(NamedTuple):
  """What :func:`fit` returns: best-on-validation parameters and their metrics."""
  params: Any
  best_step: int
  history: dict            # name -> np.ndarray [num_evals]
  val: dict                # metrics_lib.classification_metrics on validation
  test: dict               # ... on test, of the same (best-on-validation) parameters
  seconds: float


def _evals_per_call(num_evals: int, target: int) -> int:
  """Largest divisor of ``num_evals`` not above ``target``: one compiled chunk size."""
  target = max(1, min(target, num_evals))
  return max(d for d in range(1, target + 1) if num_evals % d == 0)


def predict_in_batches(trainer: Trainer, params, x: np.ndarray,
                       batch: int = 8192) -> np.ndarray:
  """Class probabilities for ``x``, in fixed-size chunks to bound device memory."""
  out = [np.asarray(trainer.predict(params, jnp.asarray(x[i:i + batch])))
         for i in range(0, len(x), batch)]
  return np.concatenate(out, 0)


def fit(config: TrainConfig, prepared: Prepared, seed: int,
        progress: Callable[[dict], None] | None = None,
        steps_per_call: int = 500) -> FitResult:
  """Trains one run and scores its best-on-validation parameters.

  Args:
    config: the run's configuration.
    prepared: the data (see :func:`gil_jax.data.prepare_tabular`).
    seed: seed of initialisation, batches and the policy's randomness.
    progress: optional callback, called after each host call with a dict of
      ``step``, ``num_steps``, ``val_score``, ``best_score``, ``loss``, ``seconds``.
    steps_per_call: about how many steps one host call runs.

  Returns:
    A :class:`FitResult`.
  """
  import time  # local: only the host loop measures time
  start = time.perf_counter()
  train, val, test = method_inputs(config.method, prepared)
  trainer = make_trainer(config, train.x.shape[1], prepared.num_classes)
  train_d = jax.tree.map(jnp.asarray, train)
  val_d = jax.tree.map(jnp.asarray, val)
  state = trainer.init(jax.random.key(seed), train_d)
  per_call = _evals_per_call(config.num_evals,
                             math.ceil(steps_per_call / config.eval_every))
  chunks = []
  for _ in range(config.num_evals // per_call):
    state, hist = trainer.run(state, train_d, val_d, num_evals=per_call)
    hist = jax.device_get(hist)
    chunks.append(hist)
    if progress is not None:
      progress({"step": int(hist["step"][-1]), "num_steps": config.num_steps,
                "val_score": float(hist["val_score"][-1]),
                "best_score": float(state.best_score),
                "loss": float(hist["loss"][-1]),
                "seconds": time.perf_counter() - start})
  history = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
  if not np.all(np.isfinite(history["loss"])):
    raise FloatingPointError(
        f"training loss became non-finite (method {config.method}, seed {seed})")
  params = jax.device_get(state.best_params)
  val_metrics = metrics_lib.classification_metrics(
      val.y, predict_in_batches(trainer, params, val.x))
  test_metrics = metrics_lib.classification_metrics(
      test.y, predict_in_batches(trainer, params, test.x))
  return FitResult(params=params, best_step=int(state.best_step), history=history,
                   val=val_metrics, test=test_metrics,
                   seconds=time.perf_counter() - start)
