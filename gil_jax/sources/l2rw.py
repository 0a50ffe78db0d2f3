"""``gil_l2rw``: importance from held-out credit, recomputed every step, no network.

Ren et al. (2018), "Learning to Reweight Examples for Robust Deep Learning", weight
each example by the clipped negative meta-gradient of a held-out loss with respect
to its weight, taken through a one-step look-ahead.  Applied per entry to GIL's
encoder gradient (:mod:`gil_jax.sources.credit`, eq. (1)):

    c_bj = -dL_meta(theta'(a0)) / da_bj        at the prior a0 (1, or the mask m)
    w_bj = max(c_bj, 0) / max_j' max(c_bj', 0)        per sample, in [0, 1]
    a_bj = (1 - lambda) a0_bj + lambda w_bj           (lambda = meta_shrink)

with ``w_b = m_b`` where every credit of sample ``b`` is <= 0.  The held-out rows are
drawn every step from training rows outside the batch (:func:`credit.heldout_rows`),
so no fixed meta split becomes a small second training set; shrinking towards the
prior keeps the plain gradient's information where the credit is noisy.  Ren et al.
normalise weights over the batch; we normalise per sample so that ``a`` stays in
GIL's action range ``[0, 1]`` (Adam cancels any common scale anyway).
"""

from __future__ import annotations

import jax.numpy as jnp

import dataclasses

from gil_jax.predictor import Predictor, StepContext
from gil_jax.sources import credit
from gil_jax.sources.base import ImportanceSource, no_observation, register_source

PRIORS = ("ones", "mask")


@dataclasses.dataclass(frozen=True)
class L2RWConfig:
  """Options of ``gil_l2rw``.

  Attributes:
    meta_batch_size: held-out training rows drawn each step.
    meta_shrink: ``lambda``, the share of the credit weights in ``a`` (1 = pure
      credit, 0 = the prior).
    meta_prior: the prior ``a0``: ``"ones"`` (plain gradient) or ``"mask"``
      (GIL-H).
  """
  meta_batch_size: int = 128
  meta_shrink: float = 0.5
  meta_prior: str = "ones"

  def __post_init__(self):
    if self.meta_batch_size < 1:
      raise ValueError(f"meta_batch_size must be >= 1, got {self.meta_batch_size}")
    if not 0 <= self.meta_shrink <= 1:
      raise ValueError(f"meta_shrink must lie in [0, 1], got {self.meta_shrink}")
    if self.meta_prior not in PRIORS:
      raise ValueError(f"meta_prior must be one of {PRIORS}, got "
                       f"{self.meta_prior!r}")


def credit_weights(credit_values, mask, valid=None):
  """``w = max(c, 0)`` normalised by its per-sample maximum; ``m`` where all <= 0.

  Args:
    credit_values: ``[B, d]`` (LSTM ``[B, T, d]``) held-out credit.
    mask: the missing indicator, same shape.
    valid: optional ``[B, T]`` real steps (padded steps never count).

  Returns:
    Weights in ``[0, 1]``, same shape.
  """
  pos = jnp.maximum(credit_values, 0.0)
  if valid is not None:
    pos = pos * valid[..., None]
  top = jnp.max(pos.reshape(pos.shape[0], -1), axis=1)
  top = top.reshape((-1,) + (1,) * (pos.ndim - 1))
  return jnp.where(top > 0, pos / jnp.where(top > 0, top, 1.0),
                   mask.astype(pos.dtype))


def prior_importance(kind: str, batch) -> jnp.ndarray:
  """The prior the credit re-weights: ``"ones"`` (plain gradient) or ``"mask"``."""
  return jnp.ones_like(batch.x) if kind == "ones" else batch.m.astype(batch.x.dtype)


def gil_l2rw_factory(config, predictor: Predictor) -> ImportanceSource:
  """``gil_l2rw``: see the module docstring."""
  options = config.source_config
  shrink = options.meta_shrink

  def init(key, ctx: StepContext):
    del key
    credit.check_heldout_possible("gil_l2rw", ctx.train, config.batch_size,
                                  options.meta_batch_size)
    return None

  def propose(state, keys, ctx: StepContext):
    rows = credit.draw_heldout_rows(keys["meta"], ctx.train, ctx.batch_idx,
                               options.meta_batch_size)
    prior = prior_importance(options.meta_prior, ctx.batch)
    c = credit.heldout_credit(predictor, ctx, prior, rows)
    w = credit_weights(c, ctx.batch.m, ctx.valid)
    a = (1.0 - shrink) * prior + shrink * w
    observed = ctx.batch.m > 0
    return a, state, {"importance": a.mean(),
                      "credit_positive": credit.masked_mean(
                          c > 0, (observed & (c != 0)).astype(jnp.float32))}

  return ImportanceSource(init=init, propose=propose, observe=no_observation,
                          key_names=("rng", "next", "meta"))


register_source("gil_l2rw", gil_l2rw_factory, config=L2RWConfig, looks_ahead=True)
