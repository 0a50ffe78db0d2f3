"""Importance sources: the one seam between the training step and a method.

Every method differs only in *where the importance comes from*: the encoder-kernel
gradient of a step is always

    dW = sum_b (x_b * a_b)^T delta_b                                     # eq. (4)

and ``a`` is ``None`` (the plain gradient), the mask ``m`` (GIL-H), an RL policy's
action (GIL), a held-out credit (``gil_l2rw``), a meta-learned network
(``gil_meta``), ...  An :class:`ImportanceSource` says how ``a`` is produced for a
batch, what state that needs, and how the state moves after the predictor's update.

One training step (:mod:`gil_jax.training.step`):

1. ``keys = split_keys(rng, source.key_names)`` (``"rng"`` carries over, ``"next"``
   draws the next batch, the rest are the source's: each method's random streams are
   fixed, so results reproduce across versions of the loop);
2. the predictor's forward and backward pass of the batch
   (:class:`gil_jax.predictor.StepContext`: logits, features, gradients, ``delta``);
3. ``a, state, metrics = source.propose(state, keys, ctx)``;
4. the predictor's update with eq. (4)'s kernel gradient for ``a``;
5. ``state, metrics = source.observe(state, keys, ctx, a, params_after)``.

Sources are plug-ins: a new method is a factory ``(config, predictor) ->
ImportanceSource`` and one :func:`register_source` call, in its own module or the
user's.  Its options live in its own config dataclass (``TrainConfig.source_config``)
and its vmappable scalars in that config's ``hparams()``.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, NamedTuple

import jax

from gil_jax.data.containers import Split


class ImportanceSource(NamedTuple):
  """What produces the importance ``a`` of a step, and the state it keeps.

  Attributes:
    init: ``(key, ctx) -> state``; ``ctx`` is the first batch's
      :class:`~gil_jax.predictor.StepContext` with the forward pass only
      (``logits``/``features``).  The state is any pytree (``None`` if stateless).
    propose: ``(state, keys, ctx) -> (a, state, metrics)``: the importance for the
      current batch, shaped like ``ctx.batch.x`` (``None`` = the plain gradient).
      ``keys`` maps the source's ``key_names`` to PRNG keys.
    observe: ``(state, keys, ctx, a, params_after) -> (state, metrics)``: called
      after the predictor's update with the parameters it produced.
    key_names: names of the keys one step splits, in order; must contain ``"rng"``
      and ``"next"`` (kept by the trainer).
    balanced_batches: draw class-balanced batches (GIL-D, App. D.1).
    export: ``state -> params or None``: the network worth saving with a run (GIL's
      actor, ``gil_meta``'s importance network).
    diagnose: optional ``(state, key, ctx) -> metrics``, run once per evaluation
      (``TrainConfig.diagnostics``); see :mod:`gil_jax.sources.credit`.
  """
  init: Callable[[jax.Array, Any], Any]
  propose: Callable[..., tuple[jax.Array | None, Any, dict]]
  observe: Callable[..., tuple[Any, dict]]
  key_names: tuple[str, ...] = ("rng", "next")
  balanced_batches: bool = False
  export: Callable[[Any], Any] = lambda state: None
  diagnose: Callable[..., dict] | None = None


def no_observation(state, keys, ctx, a, params_after):
  """``observe`` of a source whose state does not depend on the update."""
  del keys, ctx, a, params_after
  return state, {}


# factory(config: TrainConfig, predictor: Predictor) -> ImportanceSource
SourceFactory = Callable[[Any, Any], ImportanceSource]


@dataclasses.dataclass(frozen=True)
class SourceSpec:
  """A registered source.

  Attributes:
    name: what ``TrainConfig.source`` names.
    factory: ``(config, predictor) -> ImportanceSource``.
    config: the source's config dataclass (frozen, hashable; ``None`` if it has no
      options).  It may define ``hparams() -> NamedTuple`` (scalars vmapped across
      runs), ``check_hparams(hparams)`` and ``check(train_config)``.
    needs_encoder: it proposes an importance, so the model must have an
      importance-weighted encoder (``False`` only for the plain gradient).
    looks_ahead: it differentiates through the predictor's update
      (``Predictor.lookahead``), which only the factored rule of eq. (4) offers.
    fixed: its importance is a fixed function of the batch (nothing is learned or
      computed from a loss), so a policy's options have nothing to act on there,
      harmlessly; a launcher may then run it beside a policy with shared options.
  """
  name: str
  factory: SourceFactory
  config: type | None = None
  needs_encoder: bool = True
  looks_ahead: bool = False
  fixed: bool = False


_REGISTRY: dict[str, SourceSpec] = {}
# The library's own sources register themselves when their module is imported; the
# registry imports these on first use, so that they may import this module.
_BUILTIN_MODULES = ("gil_jax.sources.constant", "gil_jax.sources.policy.source",
                    "gil_jax.sources.policy.heldout", "gil_jax.sources.l2rw",
                    "gil_jax.sources.meta")
_builtins_loaded = False


def register_source(name: str, factory: SourceFactory, *, config: type | None = None,
                    needs_encoder: bool = True, looks_ahead: bool = False,
                    fixed: bool = False) -> SourceSpec:
  """Registers an importance source under ``name`` (see :class:`SourceSpec`).

  Registering a name again replaces it (so a notebook can redefine a source).

  Returns:
    The :class:`SourceSpec`.
  """
  if not isinstance(name, str) or not name.isidentifier():
    raise ValueError(f"a source name must be an identifier, got {name!r}")
  if not callable(factory):
    raise TypeError(f"the factory of source {name!r} must be callable")
  if config is not None and not dataclasses.is_dataclass(config):
    raise TypeError(f"the config of source {name!r} must be a dataclass, got "
                    f"{config!r}")
  spec = SourceSpec(name=name, factory=factory, config=config,
                    needs_encoder=needs_encoder, looks_ahead=looks_ahead,
                    fixed=fixed)
  _REGISTRY[name] = spec
  return spec


def _load_builtins() -> None:
  global _builtins_loaded
  if not _builtins_loaded:
    _builtins_loaded = True
    for module in _BUILTIN_MODULES:
      importlib.import_module(module)


def source_names() -> tuple[str, ...]:
  """Every registered source, the library's first."""
  _load_builtins()
  return tuple(_REGISTRY)


def source_spec(name: str) -> SourceSpec:
  """The :class:`SourceSpec` registered as ``name``."""
  _load_builtins()
  if name not in _REGISTRY:
    raise ValueError(f"unknown importance source {name!r}; choose from "
                     f"{tuple(_REGISTRY)} or register one with register_source")
  return _REGISTRY[name]


def make_source(config, predictor) -> ImportanceSource:
  """The importance source of ``config.source``, built for ``predictor``."""
  source = source_spec(config.source).factory(config, predictor)
  if not isinstance(source, ImportanceSource):
    raise TypeError(f"the factory of source {config.source!r} must return an "
                    f"ImportanceSource, got {type(source).__name__}")
  if "rng" not in source.key_names or "next" not in source.key_names:
    raise ValueError(f"source {config.source!r} must name keys 'rng' and 'next', "
                     f"got {source.key_names}")
  return source


def split_keys(rng: jax.Array, names: tuple[str, ...]) -> dict[str, jax.Array]:
  """``jax.random.split(rng, len(names))`` as a dict keyed by ``names``."""
  return dict(zip(names, jax.random.split(rng, len(names))))


def take(split: Split, idx: jax.Array) -> Split:
  """The rows ``idx`` of every array of ``split``."""
  return jax.tree.map(lambda v: v[idx], split)
