"""The authors' predictor update: BN in training mode and L2 in the per-example loss.

Switches 1-2 of :class:`gil_jax.authors_mode.AuthorsMode`.  The authors' TF1 code
(``tabular_data/tabular_mlp_GIL_train.py``) takes the per-example gradient of each
example's loss ``L_b = CE_b + R`` (``R`` its weight decay), scales the first layer's
per-example gradient rows by ``a_b`` and averages over the batch:

    dW_enc[j, :] = mean_b  a_bj * dL_b/dW_enc[j, :]

Without batch norm and weight decay this is eq. (4)'s factored rule.  With them it
is not:

* **Batch norm** in training mode couples the samples: ``CE_b`` depends on
  ``W_enc`` through every sample's pre-activation ``u_c`` (via the batch
  statistics), so ``dCE_b/dW_enc = sum_c x_c^T J[b, c]`` with
  ``J[b, c] = dCE_b/du_c``.  We compute ``J`` (``[B, B, e]``, one backward pass per
  example, batched) and contract it once with the outer product ``a_bj x_cj``:

      dW_enc = (1/B) sum_{b,c} (a_b * x_c)^T J[b, c]                     (one GEMM)

  This costs ``O(B^2 (d + h) e)`` per step, off the default path (SPEC sec. 1
  forbids per-example gradients there only); ``a = 1`` (zero imputation) needs no
  ``J``: it is the plain gradient.
* **Weight decay inside each example's loss**: ``R = l2/2 * mean_t ||w_t||^2``
  over the regularised tensors (hidden kernels and biases: ``slim``'s
  ``l2_regularizer(l2)`` on each, ``tf.reduce_mean`` over the collection), so
  ``dR/dw = (l2 / n_terms) w`` and the encoder's row ``j`` gets it scaled by
  ``mean_b a_bj``; every other regularised tensor gets it whole.

Evaluation: the authors' moving-average statistics were unstable (SPEC sec. 4).  We
use "precise BN": after every update, the statistics of each BN layer are recomputed
with the new parameters on a fixed set of training rows (``authors.bn_eval_rows``,
evenly spaced over the training split; each layer's statistics with the layers below
it normalised by theirs) and stored in ``params["bn_stats"]``.  Evaluation normalises
with them, so a row's score depends on the parameters only, never on the other rows
scored with it, and the best-on-validation parameters carry their own statistics.
They are refreshed every step, not only before an evaluation, because runs are
vmapped: a ``lax.cond`` on the step would compute both branches anyway.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from gil_jax import metrics as metrics_lib
from gil_jax.data import Split
from gil_jax.models import BatchNormMLPPredictor, MLPPredictor
from gil_jax.sources import ImportanceSource, StepContext


class AuthorsPredictor(NamedTuple):
  """What replaces the trainer's defaults under ``authors.batch_norm``/``l2``.

  Attributes:
    model: the Flax predictor (:class:`BatchNormMLPPredictor` with batch norm).
    update: ``(ctx, importance) -> (params, opt_state)``, the trainer's step update
      (``ctx`` with the forward/backward pass; ``opt_state`` in the layout of
      sources that choose after the forward pass).
    evaluate: ``(params, split) -> logits`` in inference mode.
  """
  model: Any
  update: Callable[[StepContext, jax.Array | None], tuple[Any, Any]]
  evaluate: Callable[[Any, Split], jax.Array]


def regularised_paths(params: dict, batch_norm: bool) -> list[tuple[str, str]]:
  """``(layer, leaf)`` of the tensors in the authors' L2 collection.

  Hidden kernels and every bias, as ``slim.fully_connected`` with
  ``weights_regularizer`` and ``biases_regularizer`` (the logits layer turns its
  weights regulariser off).  With batch norm the hidden layers have no bias (the
  encoder's is inert, see :class:`BatchNormMLPPredictor`) and BN shifts are not
  regularised.
  """
  paths = []
  for layer, leaves in params["params"].items():
    if layer.endswith("_bn"):
      continue
    hidden = layer != "logits"
    if hidden and "kernel" in leaves:
      paths.append((layer, "kernel"))
    if "bias" in leaves and not (batch_norm and hidden):
      paths.append((layer, "bias"))
  return paths


def gated_kernel_gradient(model, params, batch: Split, importance: jax.Array
                          ) -> jax.Array:
  """``mean_b a_b * dCE_b/dW_enc`` through a batch-coupled forward pass.

  Args:
    model: the predictor (its ``apply`` takes ``encoder_probe``).
    params: its parameters.
    batch: the batch, ``x [B, d]``.
    importance: ``a [B, d]``.

  Returns:
    ``[d, e]``: the authors' first-layer gradient of the cross-entropy part.
  """
  x = batch.x
  b, d = x.shape
  width = params["params"]["encoder"]["kernel"].shape[-1]

  def per_example_ce(probe):
    logits, _ = model.apply(params, x, encoder_probe=probe)
    return metrics_lib.cross_entropy(logits, batch.y)

  jac = jax.jacrev(per_example_ce)(jnp.zeros((b, width), x.dtype))   # [B, B, e]
  # outer[(b, c), j] = a_bj x_cj: sample b's loss, reached through sample c's input.
  outer = (importance.astype(x.dtype)[:, None, :] * x[None, :, :]).reshape(b * b, d)
  return outer.T @ jac.reshape(b * b, width) / b


def make_authors_predictor(config, num_classes: int,
                           make_optimizer: Callable[..., optax.GradientTransformation]
                           ) -> AuthorsPredictor:
  """The model, update and evaluation of ``config.authors``' switches 1-2.

  Args:
    config: the run's ``TrainConfig`` (``authors.changes_predictor`` true).
    num_classes: ``C``.
    make_optimizer: ``(config, learning_rate) -> optax`` optimizer (the trainer's).
  """
  authors = config.authors
  bn = bool(authors.batch_norm)
  if bn:
    model = BatchNormMLPPredictor(hidden=tuple(config.hidden), num_classes=num_classes)
  else:
    model = MLPPredictor(hidden=tuple(config.hidden), num_classes=num_classes)

  def update(ctx: StepContext, importance):
    params = ctx.params
    grads = ctx.grads                 # plain gradient of the batch's mean CE
    g_kernel = grads["params"]["encoder"]["kernel"]
    if importance is not None:
      if bn:
        g_kernel = gated_kernel_gradient(model, params, ctx.batch, importance)
      else:   # no coupling: eq. (4)'s factored rule (delta is of the mean loss)
        g_kernel = (ctx.x_enc * importance).T @ ctx.delta
    inner = dict(grads["params"])
    inner["encoder"] = {**inner["encoder"], "kernel": g_kernel}
    if authors.l2 > 0:
      paths = regularised_paths(params, bn)
      coef = authors.l2 / len(paths)          # d/dw of l2/2 * mean_t ||w_t||^2
      for layer, leaf in paths:
        w = params["params"][layer][leaf]
        decay = coef * w
        if (layer, leaf) == ("encoder", "kernel") and importance is not None:
          decay = decay * importance.mean(0)[:, None]   # gated per input row
        inner[layer] = {**inner[layer], leaf: inner[layer][leaf] + decay}
    grads = {**grads, "params": inner}
    # Sources all choose after the forward pass here: the optimizer's state is the
    # second entry of eq. (4)'s chain (whose first entry is stateless).
    tx = make_optimizer(config, ctx.hparams.learning_rate)
    updates, opt_inner = tx.update(grads, ctx.opt_state[1], params)
    params = optax.apply_updates(params, updates)
    if bn:
      params = {**params, "bn_stats": precise_statistics(model, params, ctx.train.x,
                                                         authors.bn_eval_rows)}
    return params, (ctx.opt_state[0], opt_inner)

  def evaluate(params, split: Split):
    if bn:
      return model.apply(params, split.x, use_stats=True)[0]
    return model.apply(params, split.x)[0]

  return AuthorsPredictor(model=model, update=update, evaluate=evaluate)


def precise_statistics(model, params, train_x: jax.Array, rows: int) -> dict:
  """BN statistics of ``params`` on ``rows`` fixed, evenly spaced training rows."""
  n = train_x.shape[0]
  idx = jnp.round(jnp.linspace(0, n - 1, min(rows, n))).astype(jnp.int32)
  _, state = model.apply(params, train_x[idx], mutable=["bn_stats"])
  return state["bn_stats"]


def adopt(config, num_classes: int, source: ImportanceSource,
          make_optimizer: Callable[..., optax.GradientTransformation]):
  """The trainer's one dispatch to this module.

  Returns ``(model, source, update, evaluate)``: the source is made to choose
  after the forward pass (the update needs the batch's forward/backward pass and
  one optimizer-state layout for every method).
  """
  rule = make_authors_predictor(config, num_classes, make_optimizer)
  return (rule.model, source._replace(after_forward=True), rule.update,
          rule.evaluate)
