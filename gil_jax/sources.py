"""Importance sources: the one seam between the training loop and a method.

Every method of :mod:`gil_jax.train` differs only in *where the importance comes
from*: the encoder-kernel gradient of a step is always

    dW = sum_b (x_b * a_b)^T delta_b                                     # eq. (4)

and ``a`` is ``1`` (plain training), the mask ``m`` (GIL-H), an RL policy's action
(GIL), a held-out credit (``gil_l2rw``), a meta-learned network (``gil_meta``), ...
An :class:`ImportanceSource` says how ``a`` is produced for a batch, what state that
needs, and how the state moves after the predictor's update.  The trainer never
branches on the method: it asks the source, so a new method is a new module with a
factory returning an ``ImportanceSource`` plus one line in :data:`SOURCES`.

One training step, as the trainer runs it:

1. ``keys = split(rng, len(source.key_names))``, named by ``source.key_names``
   (``"rng"`` carries over, ``"next"`` draws the next batch; the rest are the
   source's).  The layout is the source's so that each method's random streams are
   fixed: results reproduce across versions of the loop.
2. If ``source.after_forward`` is false, ``a = source.propose(...)`` from the batch
   alone and the predictor takes ``grad`` of its loss through
   :class:`gil_jax.importance.ImportanceDense` (``a = None``: the plain gradient).
   Otherwise the trainer first runs the forward pass and its backward pass, hands the
   logits, features, gradients and encoder cotangents ``delta`` to ``propose`` in a
   :class:`StepContext`, and rewrites the kernel gradient with the optax form of
   eq. (4) (:func:`gil_jax.importance.importance_weighted_encoder`).
3. ``source.observe(...)`` sees the updated parameters (GIL's reward is computed
   there) and returns the source's next state.

Sources receive a :class:`Predictor`: the predictor's pure functions (forward pass,
RL observation, the real optimizer update with a given importance), so that a source
can look ahead through an update (held-out credit, meta-gradients) without knowing
which model or optimizer it is training.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, NamedTuple

import jax

from gil_jax.data import Split


class StepContext(NamedTuple):
  """What the trainer knows about the current step.

  Fields after ``params`` are ``None`` for sources that choose before the forward
  pass (``after_forward=False``) and at ``init``.

  Attributes:
    step: predictor updates taken so far (int32 scalar).
    hparams: the run's :class:`gil_jax.train.HParams`.
    train: the whole training split (sources draw held-out rows from it).
    batch_idx: ``[B]`` rows of ``train`` in the current batch.
    batch: the current batch.
    params: predictor parameters before the update.
    opt_state: the predictor optimizer's state before the update.
    logits: ``[B, C]`` forward pass of ``batch`` at ``params``.
    features: the model's features (MLP: ``zeta [B, e]``; LSTM: ``LSTMFeatures``).
    loss: mean cross-entropy of the batch.
    grads: plain gradient of ``loss`` w.r.t. ``params``.
    delta: ``dloss/du`` at the encoder pre-activation (``[B, e]``; LSTM
      ``[B, T, 4H]``), the cotangent of eq. (4).
    x_enc: the encoder's inputs (LSTM: padded steps zeroed).
    valid: ``[B, T]`` real steps (LSTM), else ``None``.
  """
  step: jax.Array
  hparams: Any
  train: Split
  batch_idx: jax.Array
  batch: Split
  params: Any
  opt_state: Any
  logits: jax.Array | None = None
  features: Any = None
  loss: jax.Array | None = None
  grads: Any = None
  delta: jax.Array | None = None
  x_enc: jax.Array | None = None
  valid: jax.Array | None = None


class Predictor(NamedTuple):
  """The predictor's pure functions, as a source may use them.

  Attributes:
    apply: ``(params, batch, importance=None, probe=None) -> (logits, features)``.
    observe: ``(batch, logits, features) -> (s, valid)``: GIL's RL state per sample
      (MLP ``[B, S]``) or per sample and step (LSTM ``[B, T, S]`` and ``valid``).
    summary_features: ``features -> [B, e]`` (MLP zeta; LSTM last hidden state).
    update: ``(ctx, importance) -> (params, opt_state)``: the optimizer step from
      ``ctx.params`` with the kernel gradient of eq. (4) for ``importance``
      (``None``: the plain gradient), safe to differentiate (Adam with a 1e-30
      ``eps_root``: equal to the trainer's own update to float precision).  Needs
      a context with ``grads``/``delta``.
    kernel_update: ``(ctx, g_kernel) -> update``: the optimizer's update of the
      encoder kernel as a function of that kernel's gradient alone (every other
      leaf as in ``ctx.grads``), for derivatives through the update.
    sample_rows: ``(key, train, n) -> [n]`` row indices drawn uniformly.
    num_features: ``d``.
    num_classes: ``C``.
    is_sequence: whether the model reads ``[B, T, d]`` sequences.
  """
  apply: Callable[..., tuple[jax.Array, Any]]
  observe: Callable[..., tuple[jax.Array, jax.Array | None]]
  summary_features: Callable[[Any], jax.Array]
  update: Callable[[StepContext, jax.Array | None], tuple[Any, Any]]
  kernel_update: Callable[[StepContext, jax.Array], jax.Array]
  sample_rows: Callable[[jax.Array, Split, int], jax.Array]
  num_features: int
  num_classes: int
  is_sequence: bool


class ImportanceSource(NamedTuple):
  """What produces the importance ``a`` of a step, and the state it keeps.

  Attributes:
    init: ``(key, ctx) -> state``; ``ctx`` holds the first batch's forward pass
      (``logits``/``features``; no gradients).  The state is any pytree (``None``
      for stateless sources) and lives in ``TrainState.source``.
    propose: ``(state, keys, ctx) -> (a, state, metrics)``: the importance for the
      current batch (``None`` = plain gradient; else the shape of ``ctx.batch.x``).
      ``keys`` maps the source's ``key_names`` to PRNG keys.
    observe: ``(state, keys, ctx, a, params_after) -> (state, metrics)``: called
      after the predictor's update with the parameters it produced.
    key_names: names of the keys one step splits, in order; must contain ``"rng"``
      and ``"next"`` (kept by the trainer).
    after_forward: whether ``propose`` needs the forward/backward pass of the batch.
    balanced_batches: draw class-balanced batches (GIL-D, App. D.1).
    export: ``state -> params or None``: the network worth saving with a run (GIL's
      actor, ``gil_meta``'s ``h_psi``).
    diagnose: optional ``(state, key, ctx) -> metrics``, run once per evaluation on
      a context with gradients (``config.diagnostics``); see :mod:`gil_jax.credit`.
  """
  init: Callable[[jax.Array, StepContext], Any]
  propose: Callable[..., tuple[jax.Array | None, Any, dict]]
  observe: Callable[..., tuple[Any, dict]]
  key_names: tuple[str, ...] = ("rng", "next")
  after_forward: bool = False
  balanced_batches: bool = False
  export: Callable[[Any], Any] = lambda state: None
  diagnose: Callable[..., dict] | None = None


def _no_observation(state, keys, ctx, a, params_after):
  del keys, ctx, a, params_after
  return state, {}


def constant_source(kind: str) -> ImportanceSource:
  """Sources with no state: ``"ones"`` (plain gradient) or ``"mask"`` (GIL-H).

  ``"ones"`` proposes ``None``: the layer then takes the ordinary gradient, exactly
  that of ``a = 1``.  ``"mask"`` proposes ``a = m`` (GIL-H, sec. 4).
  """
  if kind not in ("ones", "mask"):
    raise ValueError(f"unknown constant importance {kind!r}; use 'ones' or 'mask'")

  def propose(state, keys, ctx):
    del keys
    return (None if kind == "ones" else ctx.batch.m), state, {}

  return ImportanceSource(init=lambda key, ctx: None, propose=propose,
                          observe=_no_observation)


def missing_weight_source(c: float) -> ImportanceSource:
  """``a = m + c (1 - m)``: every filled-in entry's gradient scaled by ``c``.

  The deterministic control of GIL's random importance: ``c = 1`` is plain training
  on the placeholder-filled inputs, ``c = 0`` is GIL-H.  With placeholder 0 the
  filled entries are 0 and any ``c`` equals zero imputation; with a non-zero
  placeholder (``mean``) ``c`` interpolates between mean imputation and GIL-H.  If a
  fixed ``c`` matches GIL there, GIL's gain over the imputer is shrinkage of the
  placeholder's gradient, not a learned importance (docs/results/policy.md).
  ``c`` is :class:`gil_jax.train.TrainConfig`'s ``missing_importance``, checked there.
  """

  def propose(state, keys, ctx):
    del keys
    m = ctx.batch.m
    return m + c * (1.0 - m), state, {}

  return ImportanceSource(init=lambda key, ctx: None, propose=propose,
                          observe=_no_observation)


# Method name -> (module, factory).  A factory takes ``(config, predictor)`` and
# returns an :class:`ImportanceSource`.  Modules are imported on use, so that a
# method's module may import this one.
SOURCES: dict[str, tuple[str, str]] = {
    "zero": ("gil_jax.sources", "ones_factory"),
    "mean": ("gil_jax.sources", "ones_factory"),     # data are mean-imputed
    "gil_h": ("gil_jax.sources", "mask_factory"),
    # Control: a fixed importance c on filled-in entries (TrainConfig.missing_importance).
    "gil_const": ("gil_jax.sources", "missing_weight_factory"),
    # GIL's DDPG policy (paper sec. 2.3, App. D) and its controls.
    "gil": ("gil_jax.policy_source", "gil_factory"),
    "gil_d": ("gil_jax.policy_source", "gil_d_factory"),
    "gil_random": ("gil_jax.policy_source", "gil_random_factory"),
    "gil_frozen": ("gil_jax.policy_source", "gil_frozen_factory"),
    # Importance learned from held-out credit (rows outside the batch).
    "gil_heldout": ("gil_jax.heldout_policy", "gil_heldout_factory"),
    "gil_l2rw": ("gil_jax.l2rw", "gil_l2rw_factory"),
    "gil_meta": ("gil_jax.meta_importance", "gil_meta_factory"),
}


def ones_factory(config, predictor: Predictor) -> ImportanceSource:
  del config, predictor
  return constant_source("ones")


def mask_factory(config, predictor: Predictor) -> ImportanceSource:
  del config, predictor
  return constant_source("mask")


def missing_weight_factory(config, predictor: Predictor) -> ImportanceSource:
  del predictor
  return missing_weight_source(config.missing_importance)


def make_source(config, predictor: Predictor) -> ImportanceSource:
  """The importance source of ``config.method`` (see :data:`SOURCES`)."""
  if config.method not in SOURCES:
    raise ValueError(f"unknown method {config.method!r}; choose from {tuple(SOURCES)}")
  module, factory = SOURCES[config.method]
  source = getattr(importlib.import_module(module), factory)(config, predictor)
  if "rng" not in source.key_names or "next" not in source.key_names:
    raise ValueError(f"source of {config.method!r} must name keys 'rng' and 'next', "
                     f"got {source.key_names}")
  return source


def split_keys(rng: jax.Array, names: tuple[str, ...]) -> dict[str, jax.Array]:
  """``jax.random.split(rng, len(names))`` as a dict keyed by ``names``."""
  return dict(zip(names, jax.random.split(rng, len(names))))


def take(split: Split, idx: jax.Array) -> Split:
  """The rows ``idx`` of every array of ``split``."""
  return jax.tree.map(lambda v: v[idx], split)
