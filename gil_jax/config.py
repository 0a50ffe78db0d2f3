"""What defines one training run: :class:`TrainConfig` and its vmappable :class:`HParams`.

A run is a model (:mod:`gil_jax.models`), an importance source
(:mod:`gil_jax.sources`, each with its own small config dataclass) and the shared
schedule below.  The config is frozen and hashable: it is a static argument of the
jitted programs, and one compiled program serves every run of a config.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gil_jax import metrics as metrics_lib
from gil_jax.authors.predictor import AuthorsPredictor
from gil_jax.models.base import make_model, model_names
from gil_jax.sources.base import source_spec

OPTIMIZERS = ("adam", "sgd")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything that defines one training run.

  Defaults follow the paper and the authors' tabular code where they state a value.

  Attributes:
    source: the importance source's registered name (:func:`gil_jax.sources.
      register_source`): ``"plain"``, ``"mask"`` (GIL-H), ``"gil"``, ...
    source_config: the source's own options (its registered config class, e.g.
      :class:`gil_jax.sources.policy.PolicyConfig`); ``None`` takes its defaults.
    model: the registered model (:func:`gil_jax.models.register_model`):
      ``"mlp"``, ``"lstm"`` (``hidden[0]`` units) or ``"grud"``.
    hidden: layer widths; ``hidden[0]`` is the encoder's.
    batch_size: rows per step.
    num_steps: predictor updates; a multiple of ``eval_every``.
    eval_every: steps between validation passes (the best-on-validation
      parameters are kept).
    optimizer: ``"adam"`` or ``"sgd"`` (Adam cancels any importance that stays
      constant per feature, so SGD is there to study that).
    learning_rate: the predictor's rate.
    lr_decay_steps, lr_decay_rate: staircase exponential decay (1.0 = constant).
    selection_metric: validation score that selects parameters
      (:data:`gil_jax.metrics.SELECTION_METRICS`).
    track_test: also score the test split at every evaluation, as the history's
      ``test_score``; it never selects anything (it measures how optimistic the
      authors' test-selection protocol is).
    diagnostics: record the source's diagnostics (:mod:`gil_jax.sources.credit`)
      at every evaluation.
    authors: the authors' predictor switches (batch norm, L2 inside the
      per-example loss; :mod:`gil_jax.authors`); all off = the paper's predictor.
  """
  source: str = "gil"
  source_config: Any = None
  model: str = "mlp"
  hidden: tuple[int, ...] = (500, 500)
  batch_size: int = 128
  num_steps: int = 2000
  eval_every: int = 100
  optimizer: str = "adam"
  learning_rate: float = 1e-3
  lr_decay_steps: int = 1000
  lr_decay_rate: float = 1.0
  selection_metric: str = "accuracy"
  track_test: bool = False
  diagnostics: bool = False
  authors: AuthorsPredictor = AuthorsPredictor()

  def __post_init__(self):
    spec = source_spec(self.source)
    if self.source_config is None and spec.config is not None:
      object.__setattr__(self, "source_config", spec.config())
    if spec.config is not None and not isinstance(self.source_config, spec.config):
      raise TypeError(f"source {self.source!r} takes a {spec.config.__name__} as "
                      f"source_config, got {type(self.source_config).__name__}")
    object.__setattr__(self, "hidden", tuple(int(w) for w in self.hidden))
    self._check_schedule()
    if self.model not in model_names():
      raise ValueError(f"unknown model {self.model!r}; choose from {model_names()}")
    if not self.hidden or any(w < 1 for w in self.hidden):
      raise ValueError(f"hidden must be one or more widths >= 1, got {self.hidden}")
    if spec.needs_encoder and not make_model(self.model, self.hidden, 2).has_encoder:
      raise ValueError(f"model {self.model!r} has no importance-weighted encoder; "
                       f"source {self.source!r} needs one (use source 'plain')")
    self.authors.check(self, looks_ahead=spec.looks_ahead)
    check = getattr(self.source_config, "check", None)
    if check is not None:
      check(self)

  def _check_schedule(self) -> None:
    for name in ("batch_size", "num_steps", "eval_every", "lr_decay_steps"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
    if self.num_steps % self.eval_every:
      raise ValueError(f"num_steps ({self.num_steps}) must be a multiple of "
                       f"eval_every ({self.eval_every})")
    if self.optimizer not in OPTIMIZERS:
      raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got "
                       f"{self.optimizer!r}")
    if self.selection_metric not in metrics_lib.SELECTION_METRICS:
      raise ValueError(f"unknown selection metric {self.selection_metric!r}; "
                       f"choose from {metrics_lib.SELECTION_METRICS}")
    # A negative or NaN rate trains "successfully" to chance accuracy: refuse it.
    for name in ("learning_rate", "lr_decay_rate"):
      check_positive(name, getattr(self, name))

  @property
  def num_evals(self) -> int:
    return self.num_steps // self.eval_every


def check_positive(name: str, value: float) -> None:
  """Raises ``ValueError`` unless ``value`` is finite and > 0."""
  if not (math.isfinite(value) and value > 0):
    raise ValueError(f"{name} must be finite and > 0, got {value}")


class HParams(NamedTuple):
  """Scalar hyper-parameters held in the training state, so that one compiled
  program runs many of them side by side (``vmap``).

  Attributes:
    learning_rate: the predictor's rate.
    source: the source's own scalars (its config's ``hparams()``; ``()`` if none),
      e.g. GIL's actor and critic rates and exploration probabilities.
  """
  learning_rate: jax.Array
  source: Any = ()


def default_hparams(config: TrainConfig, **overrides) -> HParams:
  """The config's hyper-parameters as float32 scalars, with optional overrides.

  ``overrides`` name ``learning_rate`` or a field of the source's hyper-parameters
  (e.g. ``actor_lr``, ``p2`` for GIL); each is checked as the config would check it.
  """
  make = getattr(config.source_config, "hparams", None)
  source = make() if make is not None else ()
  names = ("learning_rate",) + tuple(getattr(source, "_fields", ()))
  unknown = set(overrides) - set(names)
  if unknown:
    raise ValueError(f"unknown hyper-parameters {sorted(unknown)}; choose from "
                     f"{sorted(names)}")
  learning_rate = overrides.pop("learning_rate", config.learning_rate)
  check_positive("learning_rate", float(learning_rate))
  if overrides:
    source = source._replace(**overrides)
    check = getattr(config.source_config, "check_hparams", None)
    if check is not None:
      check(source)
  as_f32 = lambda v: jnp.asarray(v, jnp.float32)
  return HParams(learning_rate=as_f32(learning_rate),
                 source=jax.tree.map(as_f32, source))


def _field_value(default, value):
  """``value`` (JSON or launcher data) in the type of a field's ``default``."""
  if isinstance(default, tuple) and hasattr(default, "_fields"):   # a NamedTuple
    return value if isinstance(value, type(default)) else type(default)(**dict(value))
  if isinstance(default, tuple):
    return tuple(value)
  return value


def _fields_with_defaults(cls) -> dict:
  return {f.name: f.default for f in dataclasses.fields(cls)
          if f.default is not dataclasses.MISSING}


def from_options(source: str, options: dict) -> TrainConfig:
  """A :class:`TrainConfig` for ``source`` from one flat dict of options.

  ``options`` names :class:`TrainConfig` fields, fields of the source's config class
  (e.g. ``actor_lr``, ``exploration`` for GIL; NamedTuple fields as dicts) and
  ``authors`` (a dict of :class:`~gil_jax.authors.predictor.AuthorsPredictor`
  fields).  Fields of *other* registered sources' configs are ignored, so one set
  of options (a launcher's config, an estimator's ``train_options``) serves every
  method; a name no config knows is an error.
  """
  from gil_jax.sources.base import source_names   # registry of every source
  spec = source_spec(source)
  own = _fields_with_defaults(spec.config) if spec.config is not None else {}
  train_fields = _fields_with_defaults(TrainConfig)
  train_fields.pop("source"), train_fields.pop("source_config")
  others = set()
  for name in source_names():
    cls = source_spec(name).config
    if cls is not None:
      others |= {f.name for f in dataclasses.fields(cls)}
  unknown = set(options) - set(train_fields) - set(own) - others
  if unknown:
    raise ValueError(f"unknown training options {sorted(unknown)} for source "
                     f"{source!r}; known: {sorted(set(train_fields) | set(own))}")
  train = {k: _field_value(train_fields[k], v) for k, v in options.items()
           if k in train_fields}
  source_config = None
  if spec.config is not None:
    source_config = spec.config(**{k: _field_value(own[k], v)
                                   for k, v in options.items() if k in own})
  return TrainConfig(source=source, source_config=source_config, **train)


def to_options(config: TrainConfig) -> dict:
  """The inverse of :func:`from_options`: ``config`` as a flat dict of JSON data
  (without ``source``)."""
  def plain(value):
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
      return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, tuple):
      return [plain(v) for v in value]
    return value
  out = {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)
         if f.name not in ("source", "source_config")}
  if config.source_config is not None:
    out.update({f.name: plain(getattr(config.source_config, f.name))
                for f in dataclasses.fields(config.source_config)})
  return out
