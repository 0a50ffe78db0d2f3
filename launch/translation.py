"""A launcher config and method name -> what trains the method: the library's
:class:`gil_jax.train.TrainConfig` and trainer, or a scikit-learn fitter."""

from __future__ import annotations

from typing import Any, Callable

import ml_collections

from gil_jax import authors_mode
from gil_jax import policy as policy_lib
from gil_jax import train as train_lib
from gil_jax.baselines import boosting
from gil_jax.baselines import input_space
from gil_jax.baselines import linear
from gil_jax.methods import method_spec

# Methods fitted by scikit-learn instead of a JAX trainer: (prepared, seed,
# selection_metric) -> a result with best_step / val / test.
CUSTOM_FITTERS: dict[str, Callable[..., Any]] = {"hgb": boosting.fit,
                                                 "logreg": linear.fit}
# config.train fields that hold layer widths (lists on the command line and in
# results.json; TrainConfig takes tuples).
WIDTH_FIELDS = ("hidden", "actor_hidden", "critic_hidden", "meta_hidden")


def train_config(config: ml_collections.ConfigDict,
                 method: str) -> train_lib.TrainConfig:
  """The :class:`TrainConfig` of a launcher method (see
  :data:`gil_jax.methods.METHODS`)."""
  spec = method_spec(method)
  kwargs = config.train.to_dict()
  for key in WIDTH_FIELDS:
    if key in kwargs:
      kwargs[key] = tuple(kwargs[key])
  if spec.model is not None:
    kwargs["model"] = spec.model
  # ``launch.figures`` and ``launch.evaluate`` rebuild trainers from the config
  # saved in a workdir's results.json.  Some saved configs have no ``authors`` or
  # no ``meta_hidden`` (e.g. the MNIST runs behind docs/results/mnist_mcar*.json,
  # from which launch.figures drew docs/results/figures/): TrainConfig's defaults
  # apply, all off for the authors' switches.  gil_meta's default width need not
  # be the one such a run trained with, but no tool rebuilds gil_meta's network
  # from a saved config.
  authors = config.get("authors")
  return train_lib.TrainConfig(
      method=spec.trainer_method,
      exploration=policy_lib.Exploration(**config.exploration.to_dict()),
      authors=authors_mode.AuthorsMode(
          **({} if authors is None else authors.to_dict())), **kwargs)


def make_trainer(config: ml_collections.ConfigDict, method: str,
                 num_features: int, num_classes: int) -> train_lib.Trainer:
  """The trainer of a launcher method (its own for the App. G ablation)."""
  tcfg = train_config(config, method)
  if method_spec(method).custom == "input_space":
    if tcfg.authors.changes_predictor:
      raise ValueError("the input-space ablation has its own predictor; run it "
                       "without authors.batch_norm / authors.l2")
    return input_space.make_input_space_trainer(tcfg, num_features, num_classes)
  return train_lib.make_trainer(tcfg, num_features, num_classes)
