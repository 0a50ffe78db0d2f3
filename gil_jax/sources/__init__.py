"""Importance sources: what produces the importance ``a`` of eq. (4), one module each.

* :mod:`~gil_jax.sources.base`: :class:`ImportanceSource` (the seam between the step
  and a method) and the registry (:func:`register_source`);
* :mod:`~gil_jax.sources.constant`: fixed importances (``plain``, ``mask`` = GIL-H,
  ``const``);
* :mod:`~gil_jax.sources.policy`: GIL's DDPG policy (``gil``, ``gil_d``), its
  controls (``gil_random``, ``gil_frozen``) and ``gil_heldout``;
* :mod:`~gil_jax.sources.credit`: the exact credit of ``a`` on a loss, through the
  real optimizer update; used by
* :mod:`~gil_jax.sources.l2rw` (``gil_l2rw``) and :mod:`~gil_jax.sources.meta`
  (``gil_meta``), and by the diagnostics.

This package face exports the registry only; the sources' modules register
themselves when the registry is first asked (they import the training config, which
imports the registry).
"""

from gil_jax.sources.base import (ImportanceSource, SourceSpec, make_source,
                                  no_observation, register_source, source_names,
                                  source_spec, split_keys, take)

__all__ = ["ImportanceSource", "SourceSpec", "make_source", "no_observation",
           "register_source", "source_names", "source_spec", "split_keys", "take"]
