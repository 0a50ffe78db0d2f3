"""The authors' predictor update: BN in training mode and L2 in the per-example loss.

Switches 1-2 of the authors' code (:mod:`gil_jax.authors`), as a predictor.  The authors' TF1 code
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

  This costs ``O(B^2 (d + h) e)`` per step, off the default path (the default
  path never materialises per-example gradients); ``a = 1`` (zero imputation)
  needs no ``J``: it is the plain gradient.
* **Weight decay inside each example's loss**: ``R = l2/2 * mean_t ||w_t||^2``
  over the regularised tensors (hidden kernels and biases: ``slim``'s
  ``l2_regularizer(l2)`` on each, ``tf.reduce_mean`` over the collection), so
  ``dR/dw = (l2 / n_terms) w`` and the encoder's row ``j`` gets it scaled by
  ``mean_b a_bj``; every other regularised tensor gets it whole.

Evaluation: the authors' moving-average statistics were unstable (test accuracy swinging between 0.13 and 0.79 run to run).  We
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

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from gil_jax import metrics as metrics_lib
from gil_jax.authors.batch_norm import BatchNormMLPPredictor
from gil_jax.data.containers import Split
from gil_jax.models.mlp import MLPPredictor, mlp_model
from gil_jax.predictor import (Predictor, StepContext, make_context,
                               make_forward_backward, make_optimizer,
                               weighted_optimizer)


class AuthorsPredictor(NamedTuple):
  """The authors' predictor switches (all off = the paper's predictor).

  Attributes:
    batch_norm: BN in training mode on the hidden layers, with per-example
      (batch-coupled) gradients gated by the importance (switch 1).
    l2: coefficient of the L2 term inside each example's loss (switch 2; 0 = off,
      the authors' 0.02).
    bn_eval_rows: with ``batch_norm``, how many fixed training rows (evenly spaced
      over the training split) the evaluation's BN statistics are computed on.
  """
  batch_norm: bool = False
  l2: float = 0.0
  bn_eval_rows: int = 1024

  @property
  def active(self) -> bool:
    """Whether the predictor's model or update differ from the paper's."""
    return bool(self.batch_norm) or self.l2 > 0

  def check(self, config, looks_ahead: bool) -> None:
    """Raises ``ValueError`` if the switches do not fit ``config`` (a
    :class:`gil_jax.config.TrainConfig`; ``looks_ahead``: its source's trait)."""
    if not (math.isfinite(self.l2) and self.l2 >= 0):
      raise ValueError(f"authors.l2 must be finite and >= 0, got {self.l2}")
    if self.bn_eval_rows < 1:
      raise ValueError(f"authors.bn_eval_rows must be >= 1, got {self.bn_eval_rows}")
    if not self.active:
      return
    if config.model != "mlp":
      raise ValueError(f"authors.batch_norm / authors.l2 are implemented for the MLP "
                       f"predictor only (the authors' tabular code), got model "
                       f"{config.model!r}")
    if looks_ahead:
      raise ValueError(f"authors.batch_norm / authors.l2 replace the factored update "
                       f"of eq. (4) that source {config.source!r} looks ahead through")
    if config.diagnostics:
      raise ValueError("diagnostics (exact credit through the factored update) are "
                       "not available with authors.batch_norm / authors.l2")
    if self.batch_norm and config.batch_size < 2:
      raise ValueError(f"batch norm in training mode needs batch_size >= 2, got "
                       f"{config.batch_size}")

  def make_predictor(self, config, num_features: int, num_classes: int) -> Predictor:
    """The predictor these switches describe (:func:`make_authors_predictor`)."""
    return make_authors_predictor(config, num_features, num_classes)


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


def precise_statistics(model, params, train_x: jax.Array, rows: int) -> dict:
  """BN statistics of ``params`` on ``rows`` fixed, evenly spaced training rows."""
  n = train_x.shape[0]
  idx = jnp.round(jnp.linspace(0, n - 1, min(rows, n))).astype(jnp.int32)
  _, state = model.apply(params, train_x[idx], mutable=["bn_stats"])
  return state["bn_stats"]


def make_authors_predictor(config, num_features: int, num_classes: int) -> Predictor:
  """The :class:`~gil_jax.predictor.Predictor` of ``config.authors``' switches 1-2:
  their model, their gated update and evaluation with precise-BN statistics.  It
  has no look-ahead (its update is not eq. (4)'s factored rule)."""
  authors = config.authors
  bn = bool(authors.batch_norm)
  module = (BatchNormMLPPredictor if bn else MLPPredictor)(
      hidden=tuple(config.hidden), num_classes=num_classes)
  model = mlp_model(config.hidden, num_classes, module=module)

  def update(ctx: StepContext, importance):
    params = ctx.params
    grads = ctx.grads                 # plain gradient of the batch's mean CE
    g_kernel = grads["params"]["encoder"]["kernel"]
    if importance is not None:
      if bn:
        g_kernel = gated_kernel_gradient(module, params, ctx.batch, importance)
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
    # The kernel gradient is already the authors': only the optimizer's part of the
    # chain (second entry) moves.
    tx = make_optimizer(config, ctx.hparams.learning_rate)
    updates, opt_inner = tx.update(grads, ctx.opt_state[1], params)
    params = optax.apply_updates(params, updates)
    if bn:
      params = {**params, "bn_stats": precise_statistics(module, params, ctx.train.x,
                                                         authors.bn_eval_rows)}
    return params, (ctx.opt_state[0], opt_inner)

  def evaluate(params, split: Split):
    if bn:
      return module.apply(params, split.x, use_stats=True)[0]
    return module.apply(params, split.x)[0]

  return Predictor(
      model=model, init=model.init, init_optimizer=weighted_optimizer(config).init,
      apply=model.apply, evaluate=evaluate,
      context=make_context(make_forward_backward(model)), update=update,
      lookahead=None, kernel_update=None, num_features=num_features,
      num_classes=num_classes)
