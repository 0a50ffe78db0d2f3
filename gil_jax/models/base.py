"""What the trainer needs from a model, and the registry of models by name.

A :class:`Model` wraps a Flax module in the few pure functions that the training step,
the importance sources and the credit diagnostics call: initialise, apply (with an
*encoder probe*: a zero tensor added to the encoder's pre-activation, whose gradient
is the cotangent ``delta`` of eq. (4)), what GIL's policy observes, and which inputs
the encoder saw.  The trainer never branches on the model: a new model is a module
plus one :func:`register_model` call.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax

from gil_jax.data.containers import Split


class Model(NamedTuple):
  """A predictor network as the trainer uses it.

  Attributes:
    module: the Flax module.
    init: ``(key, batch) -> params`` from the first rows of the training split.
    apply: ``(params, batch, probe=None) -> (logits [B, C], features)``; ``probe``
      (shaped ``probe_shape(batch)``) is added to the encoder's pre-activation.
    observe: ``(batch, logits, features) -> (s, valid)``: GIL's RL state per
      sample (``[B, S]``, ``valid = None``) or per sample and step (``[B, T, S]``
      and ``valid [B, T]``); ``None`` for a model no policy can drive.
    summary_features: ``features -> [B, e]``, one feature vector per sample (the
      MLP's ``zeta``, the LSTM's last hidden state).
    valid_steps: ``features -> [B, T]`` bool, the real (unpadded) steps of a
      sequence; ``None`` for tables.
    encoder_inputs: ``(batch, features) -> x_enc``: what the encoder kernel
      multiplied (padded steps zeroed), the ``x`` of eq. (4).
    probe_shape: ``batch -> shape`` of the encoder probe; ``None`` when the model
      has no importance-weighted encoder (then only the plain gradient applies).
    is_sequence: whether the model reads ``[B, T, d]`` sequences with lengths.
    loss: ``(batch, logits, features) -> scalar``, the model's own training loss
      (e.g. BRITS adds its imputation losses); ``None``: the mean cross-entropy
      of ``logits``.
  """
  module: Any
  init: Callable[[jax.Array, Split], Any]
  apply: Callable[..., tuple[jax.Array, Any]]
  observe: Callable[..., tuple[jax.Array, jax.Array | None]] | None
  summary_features: Callable[[Any], jax.Array]
  valid_steps: Callable[[Any], jax.Array | None]
  encoder_inputs: Callable[[Split, Any], jax.Array] | None
  probe_shape: Callable[[Split], tuple[int, ...]] | None
  is_sequence: bool
  loss: Callable[[Split, jax.Array, Any], jax.Array] | None = None

  @property
  def has_encoder(self) -> bool:
    """Whether an importance can weight this model's encoder gradient."""
    return self.probe_shape is not None


# name -> factory(hidden, num_classes) -> Model
ModelFactory = Callable[[Sequence[int], int], Model]
_MODELS: dict[str, ModelFactory] = {}


def register_model(name: str, factory: ModelFactory) -> None:
  """Makes ``TrainConfig(model=name)`` build ``factory(hidden, num_classes)``."""
  if not callable(factory):
    raise TypeError(f"the factory of model {name!r} must be callable")
  _MODELS[name] = factory


def model_names() -> tuple[str, ...]:
  return tuple(_MODELS)


def make_model(name: str, hidden: Sequence[int], num_classes: int) -> Model:
  """The registered model ``name`` with layer widths ``hidden``."""
  if name not in _MODELS:
    raise ValueError(f"unknown model {name!r}; choose from {model_names()}")
  return _MODELS[name](tuple(hidden), num_classes)
