"""The predictor as a step sees it: a model, its optimizer, and GIL's rule (eq. 4).

:func:`make_predictor` binds a registered model (:mod:`gil_jax.models`) to the run's
optimizer and returns a :class:`Predictor` of pure functions.  Its
:attr:`~Predictor.forward_backward` gives, for a batch, everything eq. (4) and the
importance sources need (:class:`StepContext`): the logits, the model's features, the
plain gradients and the cotangents ``delta`` at the encoder's pre-activation.  Its
:attr:`~Predictor.update` is the one update path of the training step:

    dW_enc = sum_b (x_b * a_b)^T delta_b                                  # eq. (4)

through :func:`gil_jax.importance.importance_weighted_encoder` chained in front of
the optimizer (``a = None``: the plain gradient, untouched).  Sources that look
ahead through the update (held-out credit, meta-gradients) call
:attr:`~Predictor.lookahead`, the same update made safe to differentiate.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from gil_jax import metrics as metrics_lib
from gil_jax.data.containers import Split
from gil_jax.importance import importance_weighted_encoder
from gil_jax.models.base import Model, make_model

ENCODER_KERNEL = ("params", "encoder", "kernel")

# Adam's sqrt(nu) has an infinite derivative where nu = 0 (a kernel entry whose
# gradient has always been 0, e.g. a feature missing from every batch so far), and
# 0 * inf = NaN poisons derivatives through the update.  Look-ahead updates that are
# differentiated add this inside the root; it changes the update by < 1e-15 / eps
# relative where nu = 0 and not at all elsewhere in float32.
DIFFERENTIABLE_EPS_ROOT = 1e-30


class StepContext(NamedTuple):
  """What the step knows about its batch (passed to the importance source).

  Fields after ``opt_state`` are ``None`` at ``init`` (forward pass only: ``logits``
  and ``features`` are set) and for models without an encoder (``delta``,
  ``x_enc``).

  Attributes:
    step: predictor updates taken so far (int32 scalar).
    hparams: the run's :class:`gil_jax.config.HParams`.
    train: the whole training split (sources draw held-out rows from it).
    batch_idx: ``[B]`` rows of ``train`` in the batch.
    batch: the batch.
    params: predictor parameters before the update.
    opt_state: the predictor optimizer's state before the update.
    logits: ``[B, C]`` forward pass of ``batch`` at ``params``.
    features: the model's features (MLP: ``zeta [B, e]``; LSTM: ``LSTMFeatures``).
    loss: mean cross-entropy of the batch (or the model's own loss,
      ``Model.loss``).
    grads: plain gradient of ``loss`` w.r.t. ``params``.
    delta: ``dloss/du`` at the encoder pre-activation (``[B, e]``; LSTM
      ``[B, T, 4H]``), the cotangent of eq. (4).
    x_enc: the encoder's inputs (LSTM: padded steps zeroed).
    valid: ``[B, T]`` real steps (sequences), else ``None``.
  """
  step: jax.Array
  hparams: Any
  train: Split
  batch_idx: jax.Array
  batch: Split
  params: Any
  opt_state: Any
  logits: jax.Array | None = None
  features: Any = None
  loss: jax.Array | None = None
  grads: Any = None
  delta: jax.Array | None = None
  x_enc: jax.Array | None = None
  valid: jax.Array | None = None


class Predictor(NamedTuple):
  """The predictor's pure functions, as the step and the importance sources use them.

  Attributes:
    model: the :class:`~gil_jax.models.base.Model` (its ``apply``, ``observe``,
      ``summary_features`` are the ones sources call).
    init: ``(key, batch) -> params``.
    init_optimizer: ``params -> opt_state``.
    apply: ``(params, batch, probe=None) -> (logits, features)``, training mode.
    evaluate: ``(params, split) -> logits``, inference mode.
    context: ``(step, hparams, train, batch_idx, params, opt_state) ->
      StepContext`` with the batch's forward and backward pass.
    update: ``(ctx, a) -> (params, opt_state)``: one optimizer step from
      ``ctx.params`` with eq. (4)'s kernel gradient for ``a`` (``None``: plain).
    lookahead: as ``update``, safe to differentiate w.r.t. ``a`` (Adam with a
      1e-30 ``eps_root``: equal to ``update`` to float precision); ``None`` where
      the predictor's update is not eq. (4)'s factored rule.
    kernel_update: ``(ctx, g_kernel) -> update`` of the encoder kernel as a
      function of its gradient alone (every other leaf as in ``ctx.grads``), for
      exact derivatives through the update; ``None`` as ``lookahead``.
    num_features: ``d``.
    num_classes: ``C``.
  """
  model: Model
  init: Callable[[jax.Array, Split], Any]
  init_optimizer: Callable[[Any], Any]
  apply: Callable[..., tuple[jax.Array, Any]]
  evaluate: Callable[[Any, Split], jax.Array]
  context: Callable[..., StepContext]
  update: Callable[[StepContext, jax.Array | None], tuple[Any, Any]]
  lookahead: Callable[[StepContext, jax.Array | None], tuple[Any, Any]] | None
  kernel_update: Callable[[StepContext, jax.Array], jax.Array] | None
  num_features: int
  num_classes: int

  @property
  def is_sequence(self) -> bool:
    return self.model.is_sequence

  def observe(self, batch: Split, logits, features):
    """GIL's RL state of the batch: ``(s, valid)`` (see ``Model.observe``)."""
    return self.model.observe(batch, logits, features)

  def summary_features(self, features) -> jax.Array:
    return self.model.summary_features(features)


def make_optimizer(config, learning_rate=None,
                   differentiable: bool = False) -> optax.GradientTransformation:
  """The predictor's optimizer with staircase exponential learning-rate decay.

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


def weighted_optimizer(config, learning_rate=None, differentiable: bool = False
                       ) -> optax.GradientTransformationExtraArgs:
  """Eq. (4)'s rewrite of the encoder kernel's gradient, then the optimizer."""
  return optax.chain(importance_weighted_encoder(ENCODER_KERNEL),
                     make_optimizer(config, learning_rate, differentiable))


def make_forward_backward(model: Model) -> Callable[[Any, Split], dict]:
  """``(params, batch) -> dict`` of the :class:`StepContext` fields from ``logits``
  on: one forward pass and one backward pass (via a zero encoder probe)."""
  def forward_backward(params, batch: Split) -> dict:
    def loss_fn(params, probe):
      logits, features = model.apply(params, batch, probe)
      if model.loss is not None:
        return model.loss(batch, logits, features), (logits, features)
      return jnp.mean(metrics_lib.cross_entropy(logits, batch.y)), (logits, features)

    probe = (None if not model.has_encoder
             else jnp.zeros(model.probe_shape(batch), batch.x.dtype))
    loss, vjp_fn, (logits, features) = jax.vjp(loss_fn, params, probe, has_aux=True)
    grads, delta = vjp_fn(jnp.ones((), loss.dtype))
    x_enc = (None if not model.has_encoder
             else model.encoder_inputs(batch, features))
    return dict(loss=loss, grads=grads, delta=delta, logits=logits,
                features=features, x_enc=x_enc, valid=model.valid_steps(features))
  return forward_backward


def make_update(config, differentiable: bool):
  """``(ctx, a) -> (params, opt_state)``: the optimizer step with eq. (4)."""
  def update(ctx: StepContext, importance):
    if importance is None and not differentiable:
      # The plain gradient (a = 1) as autodiff computed it.
      inner = make_optimizer(config, ctx.hparams.learning_rate)
      updates, state = inner.update(ctx.grads, ctx.opt_state[1], ctx.params)
      return optax.apply_updates(ctx.params, updates), (ctx.opt_state[0], state)
    if importance is None:
      importance = jnp.ones_like(ctx.x_enc)
    tx = weighted_optimizer(config, ctx.hparams.learning_rate, differentiable)
    updates, opt_state = tx.update(ctx.grads, ctx.opt_state, ctx.params,
                                   encoder_inputs=ctx.x_enc,
                                   encoder_cotangents=ctx.delta,
                                   importance=importance)                 # eq. (4)
    return optax.apply_updates(ctx.params, updates), opt_state
  return update


def make_kernel_update(config):
  """``(ctx, g_kernel) -> update`` of the encoder kernel (see :class:`Predictor`)."""
  def kernel_update(ctx: StepContext, g_kernel):
    grads = ctx.grads
    grads = {**grads, "params": {**grads["params"], "encoder": {
        **grads["params"]["encoder"], "kernel": g_kernel}}}
    tx = make_optimizer(config, ctx.hparams.learning_rate, differentiable=True)
    updates, _ = tx.update(grads, ctx.opt_state[1], ctx.params)
    return updates["params"]["encoder"]["kernel"]
  return kernel_update


def make_context(forward_backward):
  """``(step, hparams, train, batch_idx, params, opt_state) -> StepContext``."""
  def context(step, hparams, train: Split, batch_idx, params, opt_state):
    batch = jax.tree.map(lambda v: v[batch_idx], train)
    return StepContext(step=step, hparams=hparams, train=train, batch_idx=batch_idx,
                       batch=batch, params=params, opt_state=opt_state,
                       **forward_backward(params, batch))
  return context


@functools.lru_cache(maxsize=64)
def make_predictor(config, num_features: int, num_classes: int) -> Predictor:
  """The predictor of ``config``: its model, optimizer and update (cached).

  With the authors' predictor switches on (``config.authors``), the switches build
  their own predictor, whose batch-coupled update replaces eq. (4)'s factored one
  (:mod:`gil_jax.authors.predictor`).
  """
  if config.authors.active:
    return config.authors.make_predictor(config, num_features, num_classes)
  model = make_model(config.model, config.hidden, num_classes)
  forward_backward = make_forward_backward(model)
  encoder = model.has_encoder
  return Predictor(
      model=model, init=model.init,
      init_optimizer=weighted_optimizer(config).init,
      apply=model.apply, evaluate=lambda params, split: model.apply(params, split)[0],
      context=make_context(forward_backward),
      update=make_update(config, differentiable=False),
      lookahead=make_update(config, differentiable=True) if encoder else None,
      kernel_update=make_kernel_update(config) if encoder else None,
      num_features=num_features, num_classes=num_classes)
