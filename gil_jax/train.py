"""GIL training: pure, jitted train steps and an on-device training loop.

``make_trainer(config, num_features, num_classes)`` returns a :class:`Trainer` of pure
functions (purejaxrl style):

* ``init(rng, train) -> TrainState``
* ``run(state, train, val, num_evals) -> (state, history)``: ``num_evals`` blocks of
  ``config.eval_every`` steps, each followed by a validation pass that keeps the
  best-on-validation parameters in the state.  Everything, replay buffer included,
  stays on device inside ``lax.scan``; one host call runs many steps.
* ``predict(params, x) -> probs``.

Methods (``config.method``) differ only in their *importance source*
(:mod:`gil_jax.sources`): what produces the importance ``a`` of the encoder-kernel
gradient ``sum_b (x_b * a_b)^T delta_b`` (eq. 4), what state it keeps and how that
state moves after the predictor's update.  The step below is shared by all of them:

* ``zero`` / ``mean``: ``a = 1`` (plain training; ``mean`` on mean-imputed inputs,
  see :func:`method_inputs`); ``gil_h``: ``a = m`` (:mod:`gil_jax.sources`);
* ``gil``, ``gil_d`` and the controls ``gil_random``, ``gil_frozen``: the DDPG
  behaviour policy (Alg. 1, App. D; :mod:`gil_jax.policy_source`);
* ``gil_heldout`` (:mod:`gil_jax.heldout_policy`), ``gil_l2rw``
  (:mod:`gil_jax.l2rw`), ``gil_meta`` (:mod:`gil_jax.meta_importance`): importance
  from the credit of held-out training rows (:mod:`gil_jax.credit`).

Models (``config.model``): ``mlp``, ``lstm`` (encoder = input kernels) and ``grud``
(GRU-D, a time-series baseline; plain methods only, ``zero`` or ``mean``).
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

from gil_jax import authors_mode
from gil_jax import authors_predictor
from gil_jax import metrics as metrics_lib
from gil_jax import policy as policy_lib
from gil_jax import rewards as rewards_lib
from gil_jax.data import Prepared, Split, mean_imputed
from gil_jax.importance import (ImportanceWeightedEncoderState,
                                 importance_weighted_encoder)
from gil_jax.models import MLPPredictor, policy_state
from gil_jax.policy_source import Pending, PolicyState  # noqa: F401 (re-exported)
from gil_jax.sources import (SOURCES, ImportanceSource, Predictor, StepContext,
                             make_source, split_keys)
from gil_jax.sequence import (GRUD, LSTMPredictor, sequence_policy_state,
                              time_since_observed)

METHODS = tuple(SOURCES)
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
  # Importance from held-out credit (gil_heldout, gil_l2rw, gil_meta): each step
  # draws this many training rows outside the current batch (gil_jax.credit).
  meta_batch_size: int = 128
  # gil_l2rw: a = (1 - shrink) * prior + shrink * credit weights (1 = pure credit).
  meta_shrink: float = 0.5
  meta_prior: str = "ones"           # "ones" (plain gradient) or "mask" (GIL-H)
  # gil_meta: hidden widths of the importance network h_psi.  At the actor's
  # 400-300 (the default until 2026-12-01) it does half of gil_meta's FLOPs at
  # d = 784 (3.8-4.7x a plain step on 2 CPU cores); one layer of 128 is 2.7-3.2x and
  # scores the same (docs/results/importance.md, "Cost per step").
  meta_hidden: tuple[int, ...] = (128,)
  # gil_const: the importance of every filled-in entry (a = m + c (1 - m)).
  missing_importance: float = 0.5
  # Record the importance source's diagnostics (gil_jax.credit) at every eval.
  diagnostics: bool = False
  # The authors' TF1 code choices, one switch each; all off = the paper's method
  # (gil_jax/authors_mode.py).
  authors: authors_mode.AuthorsMode = authors_mode.AuthorsMode()

  def __post_init__(self):
    if self.method not in SOURCES:   # looked up now: sources may be registered later
      raise ValueError(f"unknown method {self.method!r}; choose from "
                       f"{tuple(SOURCES)}")
    for name in ("batch_size", "num_steps", "eval_every", "replay_capacity",
                 "rl_batch_size", "lr_decay_steps", "meta_batch_size"):
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
    if not 0 <= self.meta_shrink <= 1:
      raise ValueError(f"meta_shrink must lie in [0, 1], got {self.meta_shrink}")
    if not 0 <= self.missing_importance <= 1:
      raise ValueError(f"missing_importance must lie in [0, 1], got "
                       f"{self.missing_importance}")
    if self.meta_prior not in ("ones", "mask"):
      raise ValueError(f"meta_prior must be 'ones' or 'mask', got {self.meta_prior!r}")
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
    # A negative or NaN rate trains "successfully" to chance accuracy: refuse it.
    for name in ("learning_rate", "actor_lr", "critic_lr", "lr_decay_rate"):
      if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
        raise ValueError(f"{name} must be finite and > 0, got {getattr(self, name)}")
    if not 0 <= self.gamma <= 1:
      raise ValueError(f"gamma must lie in [0, 1], got {self.gamma}")
    if not 0 < self.tau <= 1:
      raise ValueError(f"tau must lie in (0, 1], got {self.tau}")
    for name in ("hidden", "actor_hidden", "critic_hidden", "meta_hidden"):
      if any(int(w) < 1 for w in getattr(self, name)):
        raise ValueError(f"{name} widths must be >= 1, got {getattr(self, name)}")
    if len(self.critic_hidden) < 2:
      raise ValueError(f"critic_hidden needs two widths or more (a state layer, then "
                       f"the layer merging the action), got {self.critic_hidden}")
    authors_mode.check(self)

  @property
  def num_evals(self) -> int:
    return self.num_steps // self.eval_every


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
  source: Any                     # the importance source's state (GIL: PolicyState)
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
  source: ImportanceSource | None = None   # what produces the importance
  step_fn: Callable[..., tuple[TrainState, dict]] | None = None  # one step, un-jitted
  predictor: Predictor | None = None       # the model's functions sources use
  # context(state, train, with_gradients) -> StepContext of the state's batch
  context: Callable[..., StepContext] | None = None


# Adam's sqrt(nu) has an infinite derivative where nu = 0 (a kernel entry whose
# gradient has always been 0, e.g. a feature missing from every batch so far), and
# 0 * inf = NaN poisons derivatives through the update.  Look-ahead updates that are
# differentiated (gil_jax.credit, gil_meta) add this inside the root; it changes the
# update by < 1e-15 / eps relative where nu = 0 and not at all elsewhere in float32.
DIFFERENTIABLE_EPS_ROOT = 1e-30


def make_optimizer(config: TrainConfig, learning_rate=None,
                   differentiable: bool = False) -> optax.GradientTransformation:
  """The predictor's optimizer with exponential learning-rate decay.

  ``learning_rate`` (default ``config.learning_rate``) may be a traced scalar; the
  optimizer state's structure does not depend on it.  ``differentiable`` gives the
  variant to differentiate through (see :data:`DIFFERENTIABLE_EPS_ROOT`).
  """
  if learning_rate is None:
    learning_rate = config.learning_rate
  schedule = optax.exponential_decay(
      init_value=learning_rate, transition_steps=config.lr_decay_steps,
      decay_rate=config.lr_decay_rate, staircase=True)
  if config.optimizer == "adam":
    return optax.adam(schedule,
                      eps_root=DIFFERENTIABLE_EPS_ROOT if differentiable else 0.0)
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

  The method enters only through its importance source
  (:func:`gil_jax.sources.make_source`); the model, the optimizer and the step below
  are shared by every method.  Cached by its (hashable) arguments, so repeated runs
  of one configuration reuse the compiled programs.
  """
  is_seq = config.model in SEQUENCE_MODELS
  if config.model == "lstm":
    model = LSTMPredictor(hidden_size=config.hidden[0], num_classes=num_classes)
  elif config.model == "grud":
    model = GRUD(hidden_size=config.hidden[0], num_classes=num_classes)
  else:
    model = MLPPredictor(hidden=tuple(config.hidden), num_classes=num_classes)
  batch_size = config.batch_size

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

  def optimizer(hparams: HParams | None, weighted: bool,
                differentiable: bool = False) -> optax.GradientTransformation:
    tx = make_optimizer(config, None if hparams is None else hparams.learning_rate,
                        differentiable)
    if weighted:
      # A source that picks the importance after the forward pass (it depends on
      # zeta, y_hat or the cotangents) takes the plain backward pass and rewrites
      # the kernel gradient with the optax form of eq. (4); XLA drops the unused
      # plain one.
      tx = optax.chain(importance_weighted_encoder(ENCODER_KERNEL), tx)
    return tx

  def sample_rows(key, train: Split, n: int):
    return jax.random.randint(key, (n,), 0, train.x.shape[0])

  def loss_fn(params, batch, importance):
    logits, _ = apply(params, batch, importance)
    return jnp.mean(metrics_lib.cross_entropy(logits, batch.y))

  def weighted_update(ctx: StepContext, importance, differentiable: bool = False):
    """The optimizer step from ``ctx.params`` with eq. (4)'s kernel gradient."""
    if importance is None:
      importance = jnp.ones_like(ctx.x_enc)
    # The chain's first state is eq. (4)'s (empty); sources that choose before the
    # forward pass keep the optimizer's state alone.
    opt_state = (ctx.opt_state if source.after_forward
                 else (ImportanceWeightedEncoderState(), ctx.opt_state))
    updates, opt_state = optimizer(ctx.hparams, True, differentiable).update(
        ctx.grads, opt_state, ctx.params, encoder_inputs=ctx.x_enc,
        encoder_cotangents=ctx.delta, importance=importance)             # eq. (4)
    return (optax.apply_updates(ctx.params, updates),
            opt_state if source.after_forward else opt_state[1])

  def kernel_update(ctx: StepContext, g_kernel):
    grads = ctx.grads
    grads = {**grads, "params": {**grads["params"], "encoder": {
        **grads["params"]["encoder"], "kernel": g_kernel}}}
    # After-forward sources chain eq. (4)'s (stateless) rewrite in front of the
    # optimizer; the optimizer's own state is the chain's second entry.
    opt_state = ctx.opt_state[1] if source.after_forward else ctx.opt_state
    updates, _ = optimizer(ctx.hparams, False, True).update(grads, opt_state,
                                                            ctx.params)
    return updates["params"]["encoder"]["kernel"]

  predictor = Predictor(apply=apply, observe=observe,
                        summary_features=summary_features,
                        update=functools.partial(weighted_update, differentiable=True),
                        kernel_update=kernel_update, sample_rows=sample_rows,
                        num_features=num_features, num_classes=num_classes,
                        is_sequence=is_seq)
  source = make_source(config, predictor)
  if source.after_forward and config.model == "grud":
    raise ValueError(f"model 'grud' has no importance-weighted encoder; use it with "
                     f"method 'zero' or 'mean', got {config.method!r}")

  def evaluate(params, split: Split):
    """Logits in inference mode (the training forward pass, except with BN)."""
    return apply(params, split)[0]

  if config.authors.changes_predictor:
    # The authors' predictor (BN in training mode, L2 inside the per-example loss,
    # both gated by the importance; gil_jax/authors_predictor.py) brings its model,
    # its update and its inference pass; ``apply`` and the sources use the model.
    model, source, weighted_update, evaluate = authors_predictor.adopt(
        config, num_classes, source, make_optimizer)

  def sample_idx(key, train: Split):
    if source.balanced_batches:   # GIL-D: b / C rows of each class (App. D.1)
      return rewards_lib.balanced_batch_indices(key, train.y, batch_size,
                                                num_classes=num_classes)
    return sample_rows(key, train, batch_size)

  def forward_backward(params, batch: Split):
    """Loss, gradients, encoder cotangents ``delta`` and the forward pass's outputs."""
    def loss_with_probe(params, probe):
      logits, features = apply(params, batch, probe=probe)
      return (jnp.mean(metrics_lib.cross_entropy(logits, batch.y)),
              (logits, features))

    width = 4 * config.hidden[0] if is_seq else config.hidden[0]
    probe = jnp.zeros(batch.x.shape[:-1] + (width,), batch.x.dtype)
    loss, vjp_fn, (logits, features) = jax.vjp(loss_with_probe, params, probe,
                                              has_aux=True)
    grads, delta = vjp_fn(jnp.ones((), loss.dtype))
    valid = features.valid if is_seq else None
    x_enc = batch.x if valid is None else jnp.where(valid[..., None], batch.x, 0.0)
    return dict(loss=loss, grads=grads, delta=delta, logits=logits,
                features=features, x_enc=x_enc, valid=valid)

  def context(state: TrainState, train: Split, with_gradients: bool) -> StepContext:
    batch = _take(train, state.batch_idx)
    ctx = StepContext(step=state.step, hparams=state.hparams, train=train,
                      batch_idx=state.batch_idx, batch=batch, params=state.params,
                      opt_state=state.opt_state)
    if with_gradients:
      ctx = ctx._replace(**forward_backward(state.params, batch))
    return ctx

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
    rng, k_model, k_batch, k_source = jax.random.split(rng, 4)
    if config.model == "grud":
      first = _take(train, jnp.arange(1))
      params = model.init(k_model, first.x, first.m, time_since_observed(first.m),
                          first.length, jnp.zeros(first.x.shape[-1:], first.x.dtype))
    else:
      params = model.init(k_model, *((train.x[:1], train.length[:1]) if is_seq
                                     else (train.x[:1],)))
    batch_idx = sample_idx(k_batch, train)
    opt_state = optimizer(None, source.after_forward).init(params)
    ctx = StepContext(step=jnp.zeros((), jnp.int32), hparams=hparams, train=train,
                      batch_idx=batch_idx, batch=_take(train, batch_idx),
                      params=params, opt_state=opt_state)
    if config.model != "grud":
      logits, features = apply(params, ctx.batch)
      ctx = ctx._replace(logits=logits, features=features)
    return TrainState(step=jnp.zeros((), jnp.int32), rng=jax.random.key_data(rng),
                      hparams=hparams, params=params, opt_state=opt_state,
                      batch_idx=batch_idx, source=source.init(k_source, ctx),
                      best_params=params, best_score=jnp.array(-jnp.inf, jnp.float32),
                      best_step=jnp.zeros((), jnp.int32))

  def step(state: TrainState, train: Split):
    keys = split_keys(_typed_key(state.rng), source.key_names)
    ctx = context(state, train, with_gradients=source.after_forward)
    importance, source_state, metrics = source.propose(state.source, keys, ctx)
    if source.after_forward:
      params, opt_state = weighted_update(ctx, importance)
      loss = ctx.loss
    else:
      loss, grads = jax.value_and_grad(loss_fn)(state.params, ctx.batch, importance)
      updates, opt_state = optimizer(state.hparams, False).update(
          grads, state.opt_state, state.params)
      params = optax.apply_updates(state.params, updates)
    source_state, observed = source.observe(source_state, keys, ctx, importance,
                                            params)
    state = state._replace(
        step=state.step + 1, rng=jax.random.key_data(keys["rng"]), params=params,
        opt_state=opt_state, batch_idx=sample_idx(keys["next"], train),
        source=source_state)
    return state, {"loss": loss, **metrics, **observed}

  diagnose = None
  if config.diagnostics and source.diagnose is not None:
    def diagnose(state: TrainState, train: Split) -> dict:
      """The source's diagnostics on the current batch (no state change)."""
      key = jax.random.fold_in(_typed_key(state.rng), 1)
      return source.diagnose(state.source, key, context(state, train, True))

  run = make_run(config, step, evaluate, diagnose=diagnose)

  def predict(params, split: Split):
    return jax.nn.softmax(evaluate(params, split))

  return Trainer(config=config, model=model, init=jax.jit(init),
                 run=jax.jit(run, static_argnames="num_evals", donate_argnums=0),
                 predict=jax.jit(predict), init_fn=init, run_fn=run,
                 source=source, step_fn=step, predictor=predictor, context=context)


def make_run(config: TrainConfig, step_fn: Callable, logits_fn: Callable,
             diagnose: Callable | None = None
             ) -> Callable[..., tuple[TrainState, dict]]:
  """The on-device training loop around a step function.

  ``run(state, train, val, num_evals)`` scans ``num_evals`` blocks of
  ``config.eval_every`` calls of ``step_fn(state, train) -> (state, metrics)``; after
  each block it scores ``logits_fn(params, val)`` on the validation split and keeps
  the best parameters in the state.  Returns the state and per-block metrics.
  With ``monitor`` (a split, e.g. the test set), its score after each block is
  returned too, as ``test_score``; it never influences selection.
  With ``diagnose(state, train) -> metrics``, its metrics after each block join the
  history with a ``diag_`` prefix (they read the state, never change it).
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
      if diagnose is not None:
        out.update({f"diag_{k}": v for k, v in diagnose(state, train).items()})
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
             monitor: bool = False,
             runs_sharding: jax.sharding.Sharding | None = None):
  """``init`` and ``run`` vmapped over runs and jitted (cached: compiled once).

  With ``monitor``, ``run_many`` takes a third split (scored, never selected on).
  With ``runs_sharding``, ``init_many``'s state is sharded over runs like
  ``run_many``'s: left to XLA, leaves equal in every run (zeros) come out
  replicated, and the second host call would compile ``run_many`` again.
  """
  init_many = jax.jit(jax.vmap(trainer.init_fn, in_axes=(0, data_axis, 0)),
                      out_shardings=runs_sharding)
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
             trainer: Trainer | None = None,
             fingerprint_extra: dict | None = None,
             on_resume: Callable[[int], None] | None = None) -> list[FitResult]:
  """Trains ``len(seeds)`` runs as one vmapped program and scores each.

  Runs differ by seed, and optionally by data (a list of ``Prepared`` of equal
  shapes, e.g. one per mask seed) and by scalar hyper-parameters.  Each run's numbers
  equal those of the same run trained alone (to float tolerance).  Float tolerance
  is not bit equality: with one dataset per run, XLA may sum in another order for
  another number of runs, and training amplifies that, so a run inside a grid of 20
  can end a tenth of a point away from the same run in a grid of 5 (docs/notes.md,
  eighth session).  Compare runs within one call.

  Args:
    config: configuration shared by all runs (shapes, method, schedule).
    prepared: one dataset for every run, or one per run.
    seeds: one seed per run (initialisation, batches, policy randomness).
    hparams: optional per-run :class:`HParams` (see :func:`default_hparams`).
    progress: optional callback, called after each host call with ``step``,
      ``num_steps``, ``val_score`` / ``best_score`` / ``loss`` (lists over runs),
      ``seconds`` (since the call of ``fit_many``) and ``start_step`` (the step
      this call of ``fit_many`` started from: 0, or the resumed checkpoint's).
    steps_per_call: about how many steps one host call runs.
    mesh: optional 1-D device mesh; runs are sharded over its axis (padded to a
      multiple of its size), so N devices train N groups of runs in parallel.
    checkpoint_dir: if set, the full state is saved there (orbax) after every host
      call, keeping the last ``keep_checkpoints``.  Without ``resume`` it must hold
      no checkpoints (orbax would silently skip every step up to the newest).
    resume: continue from the latest good checkpoint in ``checkpoint_dir``, whose
      fingerprint (config, seeds, hyper-parameters, shapes, steps per call and
      ``fingerprint_extra``) must equal this call's; with no checkpoint there, a
      warning and training from step 0.
    keep_checkpoints: how many checkpoints to keep.
    profile_dir: if set, a ``jax.profiler`` trace of the second host call (the first
      one compiles) is written there.
    trainer: a :class:`Trainer` to use instead of ``make_trainer(config, ...)``
      (e.g. a baseline's, such as the App. G input-space ablation); it must have
      been built for ``config`` and the data's feature and class counts.
    fingerprint_extra: further entries that define the runs (e.g. the launcher's
      data config, a digest of the data), stored with each checkpoint and
      compared on resume.
    on_resume: called with the restored step when a checkpoint is resumed.

  Returns:
    One :class:`FitResult` per seed, in order.
  """
  import time  # local: only the host loop measures time
  import warnings
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
  init_many, run_many = _vmapped(trainer, data_axis, per_call, bool(monitor),
                                 None if mesh is None else runs_sharding)

  if resume and checkpoint_dir is None:
    raise ValueError("resume=True needs the checkpoint_dir to resume from")
  if (checkpoint_dir is not None and not resume
      and ckpt_lib.saved_steps(checkpoint_dir)):
    raise ValueError(
        f"{checkpoint_dir} already holds checkpoints (steps "
        f"{ckpt_lib.saved_steps(checkpoint_dir)}) of an earlier run; pass "
        "resume=True to continue it, or remove the directory to start afresh")
  state = init_many(put_runs(keys), train, put_runs(hp))
  manager = None
  chunks: list[dict] = []
  if checkpoint_dir is not None:
    manager = ckpt_lib.Checkpointer(checkpoint_dir, keep=keep_checkpoints,
                                    fingerprint=ckpt_lib.fingerprint(
                                        config, seeds, hparams, train, val,
                                        evals_per_call=per_call,
                                        extra=fingerprint_extra))
    if resume:
      fresh = state
      restored = manager.restore_latest(fresh)
      if restored is None:
        warnings.warn(f"resume: no checkpoint in {checkpoint_dir}; training "
                      "from step 0")
      else:
        # The fresh state is the template: restored arrays take its shardings.
        state, chunks = restored
        state = jax.tree.map(lambda like, v: jax.device_put(v, like.sharding),
                             fresh, state)
  # Where training stands, from the state itself: the loop below runs exactly the
  # calls left, so a resumed run ends at num_steps, never past it.
  start_step = int(np.asarray(_to_host(state.step)).reshape(-1)[0])
  steps_per_chunk = per_call * config.eval_every
  done_calls, off_schedule = divmod(start_step, steps_per_chunk)
  total_calls = config.num_evals // per_call
  if off_schedule or done_calls > total_calls or done_calls != len(chunks):
    raise ValueError(
        f"the checkpoint in {checkpoint_dir} stopped at step {start_step} with "
        f"{len(chunks)} calls of history, which does not fit this schedule "
        f"({total_calls} calls of {steps_per_chunk} steps up to {config.num_steps})")
  if chunks and on_resume is not None:
    on_resume(start_step)
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
                "seconds": time.perf_counter() - start, "start_step": start_step})
  history = {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}
  if not np.all(np.isfinite(history["loss"])):
    bad = [seeds[i] for i in range(n_runs) if not np.isfinite(history["loss"][i]).all()]
    raise FloatingPointError(
        f"training loss became non-finite (method {config.method}, seeds {bad})")
  best_params = _to_host(state.best_params)
  exported = (None if trainer.source is None
              else trainer.source.export(state.source))
  actors = None if exported is None else _to_host(exported)
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
