"""One run's pure functions: ``init``, the training step, the loop, ``predict``.

``make_trainer(config, num_features, num_classes)`` returns a :class:`Trainer`
(purejaxrl's ``make_train`` shape).  Every method shares the step below; it differs
only in its importance source (:mod:`gil_jax.sources`), and every model in its
:class:`~gil_jax.predictor.Predictor`.  One step:

1. the batch's forward and backward pass (``predictor.context``);
2. the source proposes the importance ``a`` of the batch;
3. the predictor's update with the kernel gradient ``sum_b (x_b * a_b)^T delta_b``
   (eq. 4);
4. the source observes the updated parameters (GIL's reward is computed there);
5. the next batch is drawn.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from gil_jax.config import HParams, TrainConfig, default_hparams
from gil_jax.data.containers import Split
from gil_jax.predictor import Predictor, StepContext, make_predictor
from gil_jax.sources.base import ImportanceSource, make_source, split_keys, take
from gil_jax.sources.policy.rewards import balanced_batch_indices
from gil_jax.training.loop import make_run
from gil_jax.training.state import TrainState, typed_key


class Trainer(NamedTuple):
  """Pure functions of one run.

  ``init``/``run``/``predict`` are jitted (``run`` donates its state);
  ``init_fn``/``run_fn``/``step_fn`` are the same functions un-jitted, for
  composing with ``vmap`` or your own ``jit``.

  Attributes:
    config: the run's :class:`~gil_jax.config.TrainConfig`.
    init: ``(rng, train, hparams=None) -> TrainState``.
    run: ``(state, train, val, num_evals, monitor=None) -> (state, history)``.
    predict: ``(params, split) -> probs [n, C]``.
    init_fn, run_fn: un-jitted ``init`` and ``run``.
    step_fn: ``(state, train) -> (state, metrics)``, one step, un-jitted.
    predictor: the predictor's functions (``None`` for a baseline's own trainer).
    source: the importance source (likewise).
    context: ``(state, train) -> StepContext`` of the state's batch.
  """
  config: TrainConfig
  init: Callable[..., TrainState]
  run: Callable[..., tuple[TrainState, dict]]
  predict: Callable[[Any, Split], jax.Array]
  init_fn: Callable[..., TrainState]
  run_fn: Callable[..., tuple[TrainState, dict]]
  step_fn: Callable[..., tuple[TrainState, dict]] | None = None
  predictor: Predictor | None = None
  source: ImportanceSource | None = None
  context: Callable[[TrainState, Split], StepContext] | None = None


def make_batch_sampler(config: TrainConfig, source: ImportanceSource,
                       num_classes: int) -> Callable[[jax.Array, Split], jax.Array]:
  """``(key, train) -> [B]`` row indices: uniform, or class-balanced (GIL-D)."""
  def sample(key, train: Split):
    if source.balanced_batches:
      return balanced_batch_indices(key, train.y, config.batch_size,
                                    num_classes=num_classes)
    return jax.random.randint(key, (config.batch_size,), 0, train.x.shape[0])
  return sample


def make_init(config: TrainConfig, predictor: Predictor, source: ImportanceSource,
              sample_batch) -> Callable[..., TrainState]:
  """``(rng, train, hparams=None) -> TrainState``; ``rng`` typed or raw key data."""
  def init(rng: jax.Array, train: Split, hparams: HParams | None = None):
    if train.x.shape[-1] != predictor.num_features:
      raise ValueError(f"trainer built for {predictor.num_features} features, data "
                       f"has {train.x.shape[-1]}")
    if predictor.is_sequence != (train.length is not None):
      raise ValueError(
          f"model {config.model!r} needs "
          f"{'sequences with lengths' if predictor.is_sequence else 'tabular rows'}"
          f"; got data of shape {train.x.shape}")
    if hparams is None:
      hparams = default_hparams(config)
    rng, k_model, k_batch, k_source = jax.random.split(typed_key(rng), 4)
    params = predictor.init(k_model, take(train, jnp.arange(1)))
    opt_state = predictor.init_optimizer(params)
    batch_idx = sample_batch(k_batch, train)
    batch = take(train, batch_idx)
    logits, features = predictor.apply(params, batch)
    step = jnp.zeros((), jnp.int32)
    ctx = StepContext(step=step, hparams=hparams, train=train, batch_idx=batch_idx,
                      batch=batch, params=params, opt_state=opt_state,
                      logits=logits, features=features)
    return TrainState(step=step, rng=jax.random.key_data(rng), hparams=hparams,
                      params=params, opt_state=opt_state, batch_idx=batch_idx,
                      source=source.init(k_source, ctx), best_params=params,
                      best_score=jnp.array(-jnp.inf, jnp.float32), best_step=step)
  return init


def make_step(predictor: Predictor, source: ImportanceSource, sample_batch):
  """``(state, train) -> (state, metrics)``: one step of GIL's Alg. 1."""
  def step(state: TrainState, train: Split):
    keys = split_keys(typed_key(state.rng), source.key_names)
    ctx = predictor.context(state.step, state.hparams, train, state.batch_idx,
                            state.params, state.opt_state)
    importance, source_state, metrics = source.propose(state.source, keys, ctx)
    params, opt_state = predictor.update(ctx, importance)                # eq. (4)
    source_state, observed = source.observe(source_state, keys, ctx, importance,
                                            params)
    state = state._replace(
        step=state.step + 1, rng=jax.random.key_data(keys["rng"]), params=params,
        opt_state=opt_state, batch_idx=sample_batch(keys["next"], train),
        source=source_state)
    return state, {"loss": ctx.loss, **metrics, **observed}
  return step


@functools.lru_cache(maxsize=64)
def make_trainer(config: TrainConfig, num_features: int,
                 num_classes: int) -> Trainer:
  """Builds the pure functions of one training run (see the module docstring).

  Cached by its (hashable) arguments, so repeated runs of one configuration reuse
  the compiled programs.
  """
  predictor = make_predictor(config, num_features, num_classes)
  source = make_source(config, predictor)
  sample_batch = make_batch_sampler(config, source, num_classes)
  init = make_init(config, predictor, source, sample_batch)
  step = make_step(predictor, source, sample_batch)

  def context(state: TrainState, train: Split) -> StepContext:
    return predictor.context(state.step, state.hparams, train, state.batch_idx,
                             state.params, state.opt_state)

  diagnose = None
  if config.diagnostics and source.diagnose is not None:
    def diagnose(state: TrainState, train: Split) -> dict:
      """The source's diagnostics on the current batch (no state change)."""
      key = jax.random.fold_in(typed_key(state.rng), 1)
      return source.diagnose(state.source, key, context(state, train))

  run = make_run(config, step, predictor.evaluate, diagnose=diagnose)

  def predict(params, split: Split):
    return jax.nn.softmax(predictor.evaluate(params, split))

  return Trainer(config=config, init=jax.jit(init),
                 run=jax.jit(run, static_argnames="num_evals", donate_argnums=0),
                 predict=jax.jit(predict), init_fn=init, run_fn=run, step_fn=step,
                 predictor=predictor, source=source, context=context)
