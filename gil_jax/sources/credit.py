"""Exact credit of the importance: what one step's ``a`` does to a loss.

The importance ``a`` enters training only through the encoder-kernel gradient of
eq. (4), ``g(a) = sum_b (x_b * a_b)^T delta_b``, and the optimizer's update
``W' = W + U(g)``.  Per-coordinate optimizers (SGD, Adam, with any schedule) update
each kernel entry from its own gradient, so ``dU/dg`` is diagonal: one matrix
``J [d, h]`` (:func:`kernel_jacobian`, a ``jax.jvp`` through the real update).  Any
loss ``L`` evaluated after the update then has, exactly,

    dL(theta'(a)) / da_{b,t,j} = x_{b,t,j} * sum_k J_jk delta_{b,t,k} G_jk ,
    G = dL/dW at theta'                                                       (1)

one ``[B, h] x [h, d]`` matmul; no Hessian, because ``delta`` does not depend on ``a``.

Two losses matter (see ``docs/results/policy.md`` and ``docs/results/importance.md``):

* GIL's reward, each sample's *own* loss after the update, ``r_b = -CE_b(theta')``
  (:func:`own_loss_sensitivity`).  Its ``G`` is sample ``b``'s own per-example
  gradient, so ``dr_b/da_bj = -x_bj^2 sum_k J_jk delta_bk delta'_bk``.  For SGD
  (``J = -eta``) and ``theta' ~ theta`` this is ``eta x_bj^2 (delta_b . delta_b) >= 0``:
  more weight always lowers a sample's own loss, so ``a = 1`` is the greedy optimum
  of the paper's reward.
* The loss on training rows *outside* the batch (:func:`heldout_credit`): an entry's
  contribution is worth keeping when it lowers that loss.  For SGD and ``G`` at
  ``theta`` this is ``u_bj = eta x_bj (delta_b . G_j)``.

Also here: the held-out rows of a step (:func:`draw_heldout_rows`), and the policy
diagnostics recorded at every evaluation (:func:`policy_diagnostics`).  All functions
are pure and jittable; they take the trainer's :class:`~gil_jax.sources.Predictor`
and :class:`~gil_jax.sources.StepContext`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gil_jax import metrics as metrics_lib
from gil_jax.data.containers import Split
from gil_jax.predictor import Predictor, StepContext
from gil_jax.sources.base import take


def kernel_jacobian(predictor: Predictor, ctx: StepContext,
                    importance: jax.Array | None) -> jax.Array:
  """``J = dU/dg`` of the encoder kernel's update at ``g(importance)`` (``[d, h]``).

  Exact for per-coordinate optimizers (SGD, Adam): their update of one kernel entry
  depends on that entry's gradient only, so the Jacobian is diagonal and a
  forward-mode derivative along the all-ones direction reads it off.
  """
  a = jnp.ones_like(ctx.x_enc) if importance is None else importance
  g = weighted_kernel_grad(ctx, a)
  _, j = jax.jvp(lambda g_: predictor.kernel_update(ctx, g_), (g,),
                 (jnp.ones_like(g),))
  return j


def weighted_kernel_grad(ctx: StepContext, importance: jax.Array) -> jax.Array:
  """``sum_b (x_b * a_b)^T delta_b`` (eq. 4) for any batch/time layout."""
  x = ctx.x_enc
  xa = (x * importance).reshape(-1, x.shape[-1])
  return xa.T @ ctx.delta.reshape(-1, ctx.delta.shape[-1])


def per_sample_cotangents(predictor: Predictor, params, batch: Split) -> jax.Array:
  """``d CE_b / du_b`` at the encoder pre-activation, per sample (not averaged).

  Samples do not interact in the forward pass, so the gradient of the *summed*
  cross-entropy w.r.t. a zero probe is each sample's own cotangent.
  """
  width = _encoder_width(params)
  probe = jnp.zeros(batch.x.shape[:-1] + (width,), batch.x.dtype)

  def summed_ce(probe):
    logits, _ = predictor.apply(params, batch, probe=probe)
    return jnp.sum(metrics_lib.cross_entropy(logits, batch.y))

  return jax.grad(summed_ce)(probe)


def own_loss_sensitivity(predictor: Predictor, ctx: StepContext,
                         importance: jax.Array, params_after=None,
                         jacobian: jax.Array | None = None) -> jax.Array:
  """Exact ``dr_b / da_b`` of GIL's reward ``r_b = -CE_b(theta'(a))``, eq. (1).

  Only sample ``b``'s own action counts (the diagonal blocks of the Jacobian of
  ``r`` w.r.t. ``a``): the effect the paper's per-sample reward credits to ``a_b``.

  Args:
    predictor: the trainer's predictor functions.
    ctx: the step's context with gradients (``delta``, ``x_enc``, ``grads``).
    importance: ``a``, shaped like ``ctx.batch.x``.
    params_after: ``theta'(a)``; computed with ``predictor.lookahead`` if omitted.
    jacobian: ``J`` at ``a`` (:func:`kernel_jacobian`); computed if omitted.

  Returns:
    ``[B, d]`` (LSTM ``[B, T, d]``, zero on padded steps).
  """
  if params_after is None:
    params_after, _ = predictor.lookahead(ctx, importance)
  if jacobian is None:
    jacobian = kernel_jacobian(predictor, ctx, importance)
  x = ctx.x_enc
  d_after = per_sample_cotangents(predictor, params_after, ctx.batch)
  if x.ndim == 2:   # dr_b/da_bj = -x_bj^2 sum_k J_jk delta_bk delta'_bk
    return -(x * x) * ((ctx.delta * d_after) @ jacobian.T)
  # Sequences: sample b's own kernel gradient sums over its steps.
  own = jnp.einsum("btj,btk->bjk", x, d_after)                    # [B, d, 4H]
  return -x * jnp.einsum("btk,jk,bjk->btj", ctx.delta, jacobian, own)


def own_loss_sensitivity_autodiff(predictor: Predictor, ctx: StepContext,
                                  importance: jax.Array) -> jax.Array:
  """Reference for :func:`own_loss_sensitivity`: ``jax.grad`` of each ``r_b``
  through the real optimizer update (``B`` backward passes; tests and checks)."""
  def reward(a, b):
    params_after, _ = predictor.lookahead(ctx, a)
    logits, _ = predictor.apply(params_after, ctx.batch)
    return -metrics_lib.cross_entropy(logits, ctx.batch.y)[b]

  def own(b):
    return jax.grad(reward)(importance, b)[b]

  return jax.lax.map(own, jnp.arange(importance.shape[0]))


class HeldoutRows(NamedTuple):
  """Training rows held out from one update: indices and loss weights.

  Rows are drawn uniformly from the training split; any that fall in the current
  batch get weight 0, so the held-out loss never sees the rows it credits (every row
  is held out for some updates).  Never validation or test rows: the trainer hands
  sources the training split only.
  """
  idx: jax.Array       # [n]
  weight: jax.Array    # [n], 0 for rows of the current batch, sums to 1


def draw_heldout_rows(key: jax.Array, train: Split, batch_idx: jax.Array,
                      n: int) -> HeldoutRows:
  """``n`` training rows outside the current batch (see :class:`HeldoutRows`)."""
  idx = jax.random.randint(key, (n,), 0, train.x.shape[0])
  outside = ~jnp.any(idx[:, None] == batch_idx[None, :], axis=1)
  w = outside.astype(jnp.float32)
  return HeldoutRows(idx=idx, weight=w / jnp.maximum(w.sum(), 1.0))


def check_heldout_possible(method: str, train: Split, batch_size: int,
                           meta_batch_size: int) -> None:
  """Raises if a held-out-credit method cannot have rows outside its batches."""
  n = train.x.shape[0]
  if meta_batch_size < 1:
    raise ValueError(f"method {method!r} needs held-out training rows; "
                     f"meta_batch_size must be >= 1, got {meta_batch_size}")
  if n <= batch_size:
    raise ValueError(
        f"method {method!r} learns its importance from training rows outside each "
        f"batch, but the training split has {n} rows for batches of {batch_size}: "
        f"no row is ever held out; lower batch_size or use more training data")


def heldout_loss(predictor: Predictor, params, train: Split,
                 rows: HeldoutRows) -> jax.Array:
  """Weighted mean cross-entropy of the held-out rows at ``params``."""
  batch = take(train, rows.idx)
  logits, _ = predictor.apply(params, batch)
  return jnp.sum(rows.weight * metrics_lib.cross_entropy(logits, batch.y))


def heldout_kernel_gradient(predictor: Predictor, params, train: Split,
                            rows: HeldoutRows) -> jax.Array:
  """``G = dL_meta/dW`` at ``params`` (``[d, h]``; one backward pass)."""
  grads = jax.grad(heldout_loss, argnums=1)(predictor, params, train, rows)
  return grads["params"]["encoder"]["kernel"]


def heldout_credit(predictor: Predictor, ctx: StepContext, importance: jax.Array,
                   rows: HeldoutRows, params_after=None,
                   jacobian: jax.Array | None = None) -> jax.Array:
  """``c_btj = -dL_meta(theta'(a)) / da_btj``, eq. (1) with the held-out ``G``.

  Positive credit: more weight on that entry lowers the loss of rows the update did
  not see.  Exact at ``a`` (``G`` at ``theta'(a)``, ``J`` of the real optimizer);
  for SGD it is ``eta x_bj (delta_b . G_j)``.

  Returns:
    ``[B, d]`` (LSTM ``[B, T, d]``).
  """
  if params_after is None:
    params_after, _ = predictor.lookahead(ctx, importance)
  if jacobian is None:
    jacobian = kernel_jacobian(predictor, ctx, importance)
  g_meta = heldout_kernel_gradient(predictor, params_after, ctx.train, rows)
  x = ctx.x_enc
  delta = ctx.delta.reshape(-1, ctx.delta.shape[-1])
  out = -(delta @ (jacobian * g_meta).T).reshape(x.shape)
  return x * out


# ------------------------------------------------------------------ diagnostics


def _encoder_width(params) -> int:
  return params["params"]["encoder"]["kernel"].shape[-1]


def masked_mean(v, w):
  return jnp.sum(v * w) / jnp.maximum(jnp.sum(w), 1.0)


def agreement(estimate: jax.Array, exact: jax.Array, where: jax.Array) -> dict:
  """How well ``estimate`` (e.g. a critic's ``dQ/da``) tracks ``exact``.

  Over the entries ``where`` (observed, real steps) with ``exact != 0``: the share
  of equal signs, the cosine, and the RMS magnitude ratio ``|estimate| / |exact|``.
  """
  w = where.astype(jnp.float32) * (exact != 0)
  e, x = estimate * w, exact * w
  norm_e, norm_x = jnp.sqrt(jnp.sum(e * e)), jnp.sqrt(jnp.sum(x * x))
  return {"sign_agreement": masked_mean(jnp.sign(estimate) == jnp.sign(exact), w),
          "cosine": jnp.sum(e * x) / jnp.maximum(norm_e * norm_x, 1e-30),
          "magnitude_ratio": norm_e / jnp.maximum(norm_x, 1e-30)}


def _pearson(a, b, w):
  ma, mb = masked_mean(a, w), masked_mean(b, w)
  cov = masked_mean((a - ma) * (b - mb), w)
  va, vb = masked_mean((a - ma) ** 2, w), masked_mean((b - mb) ** 2, w)
  return cov / jnp.maximum(jnp.sqrt(va * vb), 1e-12)


def action_statistics(action: jax.Array, mask: jax.Array,
                      valid: jax.Array | None = None) -> dict:
  """The policy's behaviour: saturation, spread across samples, link to the mask.

  Returns:
    ``saturation`` (share of entries below 0.05 or above 0.95), ``spread`` (std
    over samples of each feature's action, averaged over features),
    ``corr_with_mask`` (Pearson over entries) and ``mean``.
  """
  w = jnp.ones_like(action) if valid is None else jnp.broadcast_to(
      valid[..., None], action.shape).astype(action.dtype)
  flat_a = action.reshape(-1, action.shape[-1])
  flat_w = w.reshape(-1, action.shape[-1])
  mean_j = jnp.sum(flat_a * flat_w, 0) / jnp.maximum(flat_w.sum(0), 1.0)
  var_j = jnp.sum(flat_w * (flat_a - mean_j) ** 2, 0) / jnp.maximum(flat_w.sum(0), 1.0)
  return {"saturation": masked_mean((action < 0.05) | (action > 0.95), w),
          "spread": jnp.mean(jnp.sqrt(var_j)),
          "corr_with_mask": _pearson(action, mask.astype(action.dtype), w),
          "mean": masked_mean(action, w)}


def policy_diagnostics(predictor: Predictor, ddpg, ddpg_state, s: jax.Array,
                       ctx: StepContext, key: jax.Array, *, heldout_rows: int,
                       reward: str = "own_loss") -> dict:
  """What the actor and critic know about the true effect of the importance.

  At the actor's action ``a = pi(s)`` on the current batch: the exact effect of
  ``a`` on the source's reward (``reward="own_loss"``: the paper's, eq. (1) with
  the sample's own loss; ``"heldout"``: the held-out credit), the critic's
  ``dQ/da`` at the same ``(s, a)`` and their agreement on observed entries; the
  action statistics; the share of observed entries whose own-loss effect is
  positive; and how the paper's reward and the held-out credit relate (cosine).

  Returns:
    A flat dict of scalars (recorded in the history with a ``diag_`` prefix).
  """
  action = ddpg.act(ddpg_state.actor, s)
  params_after, _ = predictor.lookahead(ctx, action)
  jac = kernel_jacobian(predictor, ctx, action)
  own = own_loss_sensitivity(predictor, ctx, action, params_after, jac)
  rows = draw_heldout_rows(key, ctx.train, ctx.batch_idx, heldout_rows)
  held = heldout_credit(predictor, ctx, action, rows, params_after, jac)
  if reward == "own_loss":
    exact = own
  else:   # gil_heldout's reward: the credit, divided by the batch's mean |r_b|
    r_held = jnp.sum((action * held).reshape(held.shape[0], -1), axis=1)
    exact = held / jnp.maximum(jnp.mean(jnp.abs(r_held)), 1e-30)

  flat_s = s.reshape(-1, s.shape[-1])
  flat_a = action.reshape(-1, action.shape[-1])
  dq = jax.vmap(jax.grad(lambda a_, s_: ddpg.value(ddpg_state.critic, s_, a_)
                         ))(flat_a, flat_s).reshape(action.shape)
  observed = ctx.batch.m > 0
  if ctx.valid is not None:
    observed = observed & ctx.valid[..., None]
  logits_after, _ = predictor.apply(params_after, ctx.batch)
  r = -metrics_lib.cross_entropy(logits_after, ctx.batch.y)
  w = observed.astype(jnp.float32)
  out = {f"critic_{k}": v for k, v in agreement(dq, exact, observed).items()}
  out.update({f"action_{k}": v for k, v in action_statistics(
      action, ctx.batch.m, ctx.valid).items()})
  out.update(
      own_effect_positive=masked_mean(own > 0, w * (own != 0)),
      # Size of the action's effect on the paper's reward, relative to how much
      # that reward varies across samples: the signal the critic must resolve.
      own_effect_to_reward_spread=(jnp.sqrt(masked_mean(own ** 2, w))
                                   / jnp.maximum(jnp.std(r), 1e-30)),
      heldout_credit_positive=masked_mean(held > 0, w * (held != 0)),
      own_vs_heldout_cosine=agreement(own, held, observed)["cosine"],
      critic_dq_rms=jnp.sqrt(masked_mean(dq ** 2, w)),
      exact_effect_rms=jnp.sqrt(masked_mean(exact ** 2, w)))
  return out
