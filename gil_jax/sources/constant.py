"""Fixed importances: the plain gradient, GIL-H's mask, and a constant weight on
filled-in entries.  No state, nothing learned.

* ``plain``: ``a = None``, the ordinary gradient (``a = 1``); on placeholder-filled
  inputs this is zero imputation, on mean-filled inputs mean imputation.
* ``mask``: ``a = m`` (GIL-H, sec. 4): filled-in entries get no encoder gradient.
* ``const``: ``a = m + c (1 - m)``, every filled-in entry's gradient scaled by ``c``
  (:class:`ConstConfig`): the deterministic control of GIL's random importance.
  ``c = 1`` is ``plain``, ``c = 0`` is ``mask``; with placeholder 0 the filled
  entries are 0 and every ``c`` equals zero imputation, with a non-zero placeholder
  (the mean) ``c`` interpolates between mean imputation and GIL-H.  If a fixed ``c``
  matches GIL there, GIL's gain over the imputer is shrinkage of the placeholder's
  gradient, not a learned importance.
"""

from __future__ import annotations

import dataclasses

from gil_jax.sources.base import ImportanceSource, no_observation, register_source


def _stateless(importance) -> ImportanceSource:
  """A source proposing ``importance(batch)`` every step."""
  def propose(state, keys, ctx):
    del keys
    return importance(ctx.batch), state, {}
  return ImportanceSource(init=lambda key, ctx: None, propose=propose,
                          observe=no_observation)


def plain_factory(config, predictor) -> ImportanceSource:
  del config, predictor
  return _stateless(lambda batch: None)


def mask_factory(config, predictor) -> ImportanceSource:
  del config, predictor
  return _stateless(lambda batch: batch.m)


@dataclasses.dataclass(frozen=True)
class ConstConfig:
  """Options of ``const``.

  Attributes:
    missing_importance: ``c``, the importance of every filled-in entry, in [0, 1].
  """
  missing_importance: float = 0.5

  def __post_init__(self):
    if not 0 <= self.missing_importance <= 1:
      raise ValueError(f"missing_importance must lie in [0, 1], got "
                       f"{self.missing_importance}")


def const_factory(config, predictor) -> ImportanceSource:
  del predictor
  c = config.source_config.missing_importance
  return _stateless(lambda batch: batch.m + c * (1.0 - batch.m))


register_source("plain", plain_factory, needs_encoder=False, fixed=True)
register_source("mask", mask_factory, fixed=True)
register_source("const", const_factory, config=ConstConfig, fixed=True)
