"""The launcher's methods: what each does to the data, and which trainer it uses.

A launcher method (``gil``, ``mean_mask``, ``mice``, ``hgb``, ...) is a
:class:`MethodSpec`: data transforms applied to every split, then the trainer with an
importance source (``TrainConfig.source``), or a custom fitter.  The table lives
in the library so that the launcher, the scikit-learn estimator and other tools share
one definition.
"""

from __future__ import annotations

from typing import NamedTuple

from gil_jax import data as data_lib
from gil_jax.baselines import imputers
from gil_jax.sources.base import source_names


class MethodSpec(NamedTuple):
  """How the launcher trains a method: data transforms, then a trainer.

  ``source`` is the trainer's importance source (:mod:`gil_jax.sources`).

  ``transforms`` apply in order to every split of each dataset before training:
  ``"mean"`` (observed training mean), ``"carry_forward"`` (last observation),
  ``"mask_features"`` (the mask appended as inputs), or an imputer name of
  :data:`gil_jax.baselines.IMPUTERS` (fitted on the training split).
  """
  source: str = "plain"            # TrainConfig.source
  transforms: tuple[str, ...] = ()
  model: str | None = None         # overrides config.train.model
  custom: str | None = None        # "input_space" (App. G), "hgb"/"logreg" (no JAX trainer)


METHODS: dict[str, MethodSpec] = {
    # GIL and its variants, and the trainer's own baselines.
    "gil": MethodSpec("gil"),
    "gil_d": MethodSpec("gil_d"),
    "gil_h": MethodSpec("mask"),
    # GIL on inputs with the mask appended as features (the policy weighs both):
    # with placeholder 0 the predictor otherwise cannot tell missing from zero.
    "gil_mask": MethodSpec("gil", transforms=("mask_features",)),
    "gil_d_mask": MethodSpec("gil_d", transforms=("mask_features",)),
    # Controls of GIL's policy: actor never used / actor kept at its initialisation.
    "gil_random": MethodSpec("gil_random"),
    "gil_frozen": MethodSpec("gil_frozen"),
    # ... and its deterministic counterpart: filled-in entries weighted by a fixed c.
    "gil_const": MethodSpec("const"),
    # Importance learned from the credit of held-out training rows
    # (gil_jax/credit.py), alone and on mask-augmented inputs.
    "gil_heldout": MethodSpec("gil_heldout"),
    "gil_l2rw": MethodSpec("gil_l2rw"),
    "gil_meta": MethodSpec("gil_meta"),
    "gil_heldout_mask": MethodSpec("gil_heldout", transforms=("mask_features",)),
    "gil_l2rw_mask": MethodSpec("gil_l2rw", transforms=("mask_features",)),
    "gil_meta_mask": MethodSpec("gil_meta", transforms=("mask_features",)),
    "zero": MethodSpec("plain"),
    "mean": MethodSpec("plain", transforms=("mean",)),
    # Imputation, then the same predictor (tables).
    "knn": MethodSpec(transforms=("knn",)),
    "mice": MethodSpec(transforms=("mice",)),
    "missforest": MethodSpec(transforms=("missforest",)),
    "gain": MethodSpec(transforms=("gain",)),
    "em": MethodSpec(transforms=("em",)),
    "miwae": MethodSpec(transforms=("miwae",)),
    # Sequences: carry-forward and mask-as-input variants, GRU-D.
    "carry_forward": MethodSpec(transforms=("carry_forward",)),
    "mean_mask": MethodSpec(transforms=("mean", "mask_features")),
    "carry_forward_mask": MethodSpec(transforms=("carry_forward", "mask_features")),
    "grud": MethodSpec(model="grud"),
    "brits": MethodSpec(model="brits"),            # its own loss (models/brits.py)
    "gpvae": MethodSpec(transforms=("gpvae",)),    # baselines/gpvae.py
    # App. G ablation; gradient boosting with native NaN handling.
    "input_space": MethodSpec(custom="input_space"),
    "hgb": MethodSpec(custom="hgb"),
    # Logistic regression on mean-imputed inputs plus the mask (baselines/linear.py).
    "logreg": MethodSpec(transforms=("mean", "mask_features"), custom="logreg"),
}


def _plain_transform(name: str, train_mean):
  """A transform that fits nothing: split -> split."""
  if name == "mean":
    return lambda s: data_lib.mean_imputed(s, train_mean)
  if name == "carry_forward":
    return data_lib.carry_forward
  if name == "mask_features":
    return data_lib.with_mask_features
  raise ValueError(f"unknown data transform {name!r}")


def transform_fitted(prepared: data_lib.Prepared, transforms: tuple[str, ...],
                     seed: int = 0, imputer_options: dict | None = None
                     ) -> tuple[data_lib.Prepared, dict]:
  """``prepared`` through ``transforms``, and the imputers fitted on its training
  split (``{name: FittedImputer}``, for :func:`apply_transforms` on other sets)."""
  fitted = {}
  for name in transforms:
    if name in imputers.FITTERS:
      prepared, fitted[name] = imputers.impute_fitted(
          prepared, name, seed=seed, **(imputer_options or {}).get(name, {}))
      continue
    fn = _plain_transform(name, prepared.train_mean)
    prepared = prepared._replace(train=fn(prepared.train), val=fn(prepared.val),
                                 test=fn(prepared.test))
  return prepared, fitted


def transform(prepared: data_lib.Prepared, transforms: tuple[str, ...],
              seed: int = 0, imputer_options: dict | None = None
              ) -> data_lib.Prepared:
  """``prepared`` with every split passed through ``transforms`` (MethodSpec)."""
  return transform_fitted(prepared, transforms, seed, imputer_options)[0]


def apply_transforms(split: data_lib.Split, transforms: tuple[str, ...],
                     train_mean, fitted: dict | None = None) -> data_lib.Split:
  """Another set's split through a method's transforms, with the training run's
  ``train_mean`` and fitted imputers (nothing is fitted on ``split``)."""
  for name in transforms:
    if name in imputers.FITTERS:
      if not fitted or name not in fitted:
        raise ValueError(f"transform {name!r} needs the imputer fitted on the "
                         f"training split; none was given")
      split = imputers.apply_imputer(fitted[name], split, "test")
    else:
      split = _plain_transform(name, train_mean)(split)
  return split


def register_method(name: str, spec: MethodSpec) -> None:
  """Adds a launcher method (e.g. a registered source on mask-augmented inputs:
  ``MethodSpec("my_source", transforms=("mask_features",))``)."""
  if not isinstance(spec, MethodSpec):
    raise TypeError(f"method {name!r} needs a MethodSpec, got {type(spec).__name__}")
  METHODS[name] = spec


def method_names() -> tuple[str, ...]:
  """Every launcher method: the table's, then each registered importance source
  the table does not already run under another name (a source is a method of its
  own, on the placeholder-filled inputs)."""
  listed = set(METHODS.values())
  return tuple(METHODS) + tuple(s for s in source_names()
                                if s not in METHODS and MethodSpec(s) not in listed)


def method_spec(method: str) -> MethodSpec:
  """The :class:`MethodSpec` of a launcher method (see :func:`method_names`)."""
  if method in METHODS:
    return METHODS[method]
  if method in method_names():
    return MethodSpec(source=method)
  raise ValueError(f"unknown method {method!r}; choose from {sorted(method_names())}")
