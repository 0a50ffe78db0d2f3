"""``gil_meta``: an importance network trained by the meta-gradient of held-out loss.

No RL.  The importance comes from a network ``h_psi(s)`` on GIL's state (the same
Flax module as GIL's actor, :class:`gil_jax.sources.policy.networks.Actor`, with
widths ``meta_hidden``: one layer of 128 by default, which scores as the actor's
400-300 at a third of the cost), trained so that the predictor's update lowers the
loss of training rows
outside the batch (the scheme of Ren et al. 2018 and Shu et al. 2019,
"Meta-Weight-Net", applied per feature to the encoder gradient).  One step:

  1. look-ahead:  theta'(psi) = U(theta, g(h_psi(s)))   (the real optimizer update
     with eq. (4)'s kernel gradient; ``delta`` does not depend on ``psi``);
  2. meta step:   psi <- Adam(psi, dL_meta(theta'(psi)) / dpsi)   (rate ``meta_lr``);
  3. the predictor's update with the new importance ``a = h_psi(s)``.

``jax.grad`` differentiates through the update in step 1; by eq. (1) of
:mod:`gil_jax.sources.credit` this costs one held-out backward pass and no Hessian.
The held-out rows are drawn every step from training rows outside the batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from gil_jax.config import check_positive
from gil_jax.predictor import Predictor, StepContext
from gil_jax.sources import credit
from gil_jax.sources.base import ImportanceSource, no_observation, register_source
from gil_jax.sources.policy.networks import Actor


class MetaHParams(NamedTuple):
  """``gil_meta``'s scalar that one compiled program can vary across runs."""
  meta_lr: float


@dataclasses.dataclass(frozen=True)
class MetaConfig:
  """Options of ``gil_meta``.

  Attributes:
    meta_batch_size: held-out training rows drawn each step.
    meta_hidden: widths of the importance network ``h_psi``.
    meta_lr: Adam rate of ``h_psi``.
  """
  meta_batch_size: int = 128
  meta_hidden: tuple[int, ...] = (128,)
  meta_lr: float = 1e-4

  def __post_init__(self):
    object.__setattr__(self, "meta_hidden", tuple(int(w) for w in self.meta_hidden))
    if not self.meta_hidden or any(w < 1 for w in self.meta_hidden):
      raise ValueError(f"meta_hidden widths must be >= 1, got {self.meta_hidden}")
    if self.meta_batch_size < 1:
      raise ValueError(f"meta_batch_size must be >= 1, got {self.meta_batch_size}")
    check_positive("meta_lr", self.meta_lr)

  def hparams(self) -> MetaHParams:
    return MetaHParams(meta_lr=self.meta_lr)

  def check_hparams(self, hp: MetaHParams) -> None:
    check_positive("meta_lr", float(hp.meta_lr))


class MetaState(NamedTuple):
  params: Any        # h_psi
  opt_state: Any


def gil_meta_factory(config, predictor: Predictor) -> ImportanceSource:
  """``gil_meta``: see the module docstring."""
  options = config.source_config
  net = Actor(action_dim=predictor.num_features, hidden=options.meta_hidden)

  def tx(learning_rate):
    return optax.adam(learning_rate)

  def observation(ctx: StepContext):
    s, _ = predictor.observe(ctx.batch, ctx.logits, ctx.features)
    return s

  def init(key, ctx: StepContext) -> MetaState:
    credit.check_heldout_possible("gil_meta", ctx.train, config.batch_size,
                                  options.meta_batch_size)
    s = observation(ctx)
    params = net.init(key, s.reshape(-1, s.shape[-1])[:1])
    return MetaState(params=params, opt_state=tx(1.0).init(params))

  def meta_step(state: MetaState, key, ctx: StepContext):
    """Steps 1-2: the meta-gradient through the look-ahead, and Adam's update."""
    s = observation(ctx)
    rows = credit.draw_heldout_rows(key, ctx.train, ctx.batch_idx,
                                    options.meta_batch_size)

    def meta_loss(psi):
      params_after, _ = predictor.lookahead(ctx, net.apply(psi, s))      # look-ahead
      return credit.heldout_loss(predictor, params_after, ctx.train, rows)

    loss, grads = jax.value_and_grad(meta_loss)(state.params)
    updates, opt_state = tx(ctx.hparams.source.meta_lr).update(grads, state.opt_state,
                                                          state.params)
    return s, loss, grads, updates, opt_state

  def propose(state: MetaState, keys, ctx: StepContext):
    s, loss, _, updates, opt_state = meta_step(state, keys["meta"], ctx)
    psi = optax.apply_updates(state.params, updates)
    a = net.apply(psi, s)
    return a, MetaState(psi, opt_state), {"importance": a.mean(),
                                          "meta_loss": loss}

  def diagnose(state: MetaState, key, ctx: StepContext) -> dict:
    s, _, grads, updates, _ = meta_step(state, key, ctx)
    return meta_diagnostics(predictor, ctx, net.apply(state.params, s), grads,
                            updates, state.params)

  return ImportanceSource(init=init, propose=propose, observe=no_observation,
                          key_names=("rng", "next", "meta"),
                          export=lambda state: state.params, diagnose=diagnose)


def meta_diagnostics(predictor: Predictor, ctx: StepContext, importance: jax.Array,
                     meta_grads, meta_updates, psi) -> dict:
  """Whether the importance network moves, and whether its importance matters.

  Besides the importance's statistics (:func:`credit.action_statistics`):

  * ``importance_cv``: the importance's std over the observed (real) entries
    divided by its mean there.  Only this relative variation can change training:
    a constant ``a = c`` scales the kernel gradient by ``c``, which Adam's update
    divides out (exactly, up to its ``eps``).
  * ``update_change``: ``|U(g(a)) - U(g(c))| / |U(g(c))|`` for the encoder
    kernel's update ``U``, with ``c`` the constant importance at ``a``'s observed
    mean: how far the variation of ``a`` moves the predictor's update.
  * ``meta_grad_norm``: the global norm of ``dL_meta / dpsi``;
    ``meta_step_to_params``: the norm of the meta step (Adam's update of ``psi``)
    over the norm of ``psi``.
  """
  observed = ctx.batch.m > 0
  if ctx.valid is not None:
    observed = observed & ctx.valid[..., None]
  w = observed.astype(importance.dtype)
  mean = credit.masked_mean(importance, w)
  std = jnp.sqrt(credit.masked_mean((importance - mean) ** 2, w))
  def kernel_step(a):
    after, _ = predictor.lookahead(ctx, a)
    return (after["params"]["encoder"]["kernel"]
            - ctx.params["params"]["encoder"]["kernel"])

  step_a = kernel_step(importance)
  step_c = kernel_step(jnp.full_like(importance, mean))
  out = {f"importance_{k}": v for k, v in credit.action_statistics(
      importance, ctx.batch.m, ctx.valid).items()}
  out.update(
      importance_cv=std / jnp.maximum(mean, 1e-30),
      update_change=(jnp.linalg.norm(step_a - step_c)
                     / jnp.maximum(jnp.linalg.norm(step_c), 1e-30)),
      meta_grad_norm=optax.tree.norm(meta_grads),
      meta_step_to_params=(optax.tree.norm(meta_updates)
                           / jnp.maximum(optax.tree.norm(psi), 1e-30)))
  return out


register_source("gil_meta", gil_meta_factory, config=MetaConfig, looks_ahead=True)
