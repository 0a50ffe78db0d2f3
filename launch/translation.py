"""A launcher config and method name -> what trains the method: the library's
:class:`gil_jax.config.TrainConfig` and trainer, or a scikit-learn fitter."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import ml_collections

from gil_jax.authors.predictor import AuthorsPredictor
from gil_jax.baselines import boosting
from gil_jax.baselines import input_space
from gil_jax.baselines import linear
from gil_jax.config import TrainConfig, from_options
from gil_jax.sources.base import source_spec
from gil_jax.training.step import Trainer, make_trainer as make_library_trainer
from gil_jax.methods import method_spec

# Methods fitted by scikit-learn instead of a JAX trainer: (prepared, seed,
# selection_metric) -> a result with best_step / val / test.
CUSTOM_FITTERS: dict[str, Callable[..., Any]] = {"hgb": boosting.fit,
                                                 "logreg": linear.fit}
# config.train fields that hold layer widths (lists on the command line and in
# results.json; TrainConfig takes tuples).
WIDTH_FIELDS = ("hidden", "actor_hidden", "critic_hidden", "meta_hidden")


def train_config(config: ml_collections.ConfigDict, method: str) -> TrainConfig:
  """The :class:`~gil_jax.config.TrainConfig` of a launcher method.

  ``config.train`` holds the training fields and every source's options by name
  (:func:`gil_jax.config.from_options` keeps the method's own), ``config.exploration``
  GIL's behaviour policy, and ``config.authors`` the authors' switches: the
  predictor's go to ``TrainConfig.authors``, the policy's to the source's config.
  A policy switch that is on for a method whose source has no policy to act on is
  an error, unless the source's importance is fixed (then it runs beside GIL with
  shared options).  Saved configs without an ``authors`` section (older workdirs
  that ``launch.figures`` and ``launch.evaluate`` rebuild trainers from) take the
  defaults: every switch off.
  """
  spec = method_spec(method)
  options = config.train.to_dict()
  if spec.model is not None:
    options["model"] = spec.model
  options["exploration"] = config.exploration.to_dict()
  switches = config.authors.to_dict() if "authors" in config else {}
  options["authors"] = {k: switches.pop(k) for k in AuthorsPredictor._fields
                        if k in switches}
  source = source_spec(spec.source)
  own = ({f.name for f in dataclasses.fields(source.config)}
         if source.config is not None else set())
  for switch, value in switches.items():
    if switch in own:
      options[switch] = value
    elif value and not source.fixed:
      raise ValueError(f"authors.{switch} acts on GIL's DDPG policy; method "
                       f"{method!r} (source {spec.source!r}) does not use it")
  return from_options(spec.source, options)


def make_trainer(config: ml_collections.ConfigDict, method: str,
                 num_features: int, num_classes: int) -> Trainer:
  """The trainer of a launcher method (its own for the App. G ablation)."""
  tcfg = train_config(config, method)
  if method_spec(method).custom == "input_space":
    if tcfg.authors.active:
      raise ValueError("the input-space ablation has its own predictor; run it "
                       "without authors.batch_norm / authors.l2")
    return input_space.make_input_space_trainer(tcfg, num_features, num_classes)
  return make_library_trainer(tcfg, num_features, num_classes)
