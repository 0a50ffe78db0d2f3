"""Input-space importance: the ablation of App. G (eq. 70).

GIL weights the encoder's *gradient* by an importance chosen by an RL policy and
leaves the forward pass alone (eq. 4):

    W_enc <- W_enc - alpha * sum_b (x_b * a_b)^T delta_b,   a_b = pi_theta(s_b).

The ablation of App. G instead multiplies the *inputs* by a differentiable function
``h_psi(x) in [0,1]^d`` and trains everything by gradient descent, no RL:

    zeta = phi((x * h_psi(x)) @ W_enc + b)
    W_enc <- W_enc - alpha * Delta . (x^T (.) h_psi(x)^T)              # eq. (70)

i.e. the encoder-kernel gradient is ``sum_b (x_b * h_b)^T delta_b``, the same outer
product as GIL's with ``a_b = h_psi(x_b)``, except that the forward pass sees the
re-weighted input too and ``psi`` is learned from the loss through
``dL/dh_b = x_b * (delta_b W_enc^T)`` (itself of the outer-product form
``Delta . x^T``, the paper's explanation of why this does no better than GIL-H or zero
imputation, Table 7).  ``h_psi`` has the architecture of GIL's policy (App. G:
"the same architecture as the policy pi_theta"): the 400-300 :class:`Actor` with a
sigmoid output.

This module provides the re-weighting (:func:`apply_input_importance`), the model
(:class:`InputSpaceMLP`) and an on-device trainer with the interface of
:class:`gil_jax.training.step.Trainer` (:func:`make_input_space_trainer`).
"""

from __future__ import annotations

import functools
from typing import Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gil_jax import metrics as metrics_lib
from gil_jax.config import HParams, TrainConfig, default_hparams
from gil_jax.data.containers import Split
from gil_jax.models.mlp import MLPPredictor
from gil_jax.predictor import make_optimizer
from gil_jax.sources.policy.networks import Actor
from gil_jax.training.loop import make_run
from gil_jax.training.state import TrainState, typed_key
from gil_jax.training.step import Trainer


def apply_input_importance(x: jax.Array, importance: jax.Array) -> jax.Array:
  """``x * h``: the importance applied in input space (App. G, eq. 70).

  Unlike :func:`gil_jax.importance.importance_matmul`, the product enters the forward
  pass and gradients flow into ``importance`` (and so into ``h_psi``).

  Args:
    x: placeholder-filled inputs ``[..., d]``.
    importance: ``[..., d]``, values in ``[0, 1]``.

  Returns:
    ``x * importance``.
  """
  chex.assert_equal_shape([x, importance])
  return x * importance


class InputSpaceMLP(nn.Module):
  """``h = h_psi(x)``, then the GIL MLP predictor on ``x * h`` (App. G).

  Parameters live under ``importance`` (the ``h_psi`` network, an :class:`Actor`)
  and ``predictor`` (an :class:`MLPPredictor` whose encoder is the first layer).

  Attributes:
    hidden: predictor widths; ``hidden[0]`` is the encoder width.
    num_classes: number of logits.
    importance_hidden: widths of ``h_psi`` (GIL's policy: 400-300).
    condition_on_mask: feed ``[x, m]`` to ``h_psi`` instead of ``x``.  The paper's
      ``h_psi(x)`` sees ``x`` only; with placeholder 0 it then cannot tell a missing
      entry from an observed 0.  Off by default, to follow eq. (70).
  """
  hidden: Sequence[int]
  num_classes: int
  importance_hidden: Sequence[int] = (400, 300)
  condition_on_mask: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, m: jax.Array | None = None,
               encoder_probe: jax.Array | None = None
               ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Returns ``(logits [B, C], zeta [B, e], h [B, d])``.

    Args:
      x: placeholder-filled inputs ``[B, d]``.
      m: mask ``[B, d]``; required iff ``condition_on_mask``.
      encoder_probe: optional ``[B, e]`` added to the encoder pre-activation (see
        :class:`MLPPredictor`), to read the cotangents ``delta`` of eq. (70).
    """
    chex.assert_rank(x, 2)
    if self.condition_on_mask:
      if m is None:
        raise ValueError("this InputSpaceMLP conditions h_psi on the mask; pass m")
      chex.assert_equal_shape([x, m])
      s = jnp.concatenate([x, m], axis=-1)
    else:
      s = x
    h = Actor(action_dim=x.shape[-1], hidden=tuple(self.importance_hidden),
              name="importance")(s)
    logits, zeta = MLPPredictor(hidden=tuple(self.hidden),
                                num_classes=self.num_classes, name="predictor")(
                                    apply_input_importance(x, h),
                                    encoder_probe=encoder_probe)
    return logits, zeta, h


@functools.lru_cache(maxsize=32)
def make_input_space_trainer(config: TrainConfig, num_features: int,
                             num_classes: int, *,
                             importance_hidden: tuple[int, ...] = (400, 300),
                             condition_on_mask: bool = False) -> Trainer:
  """Pure training functions of the App. G ablation, shaped like a ``Trainer``.

  ``h_psi`` and the predictor are trained jointly by the predictor's optimizer
  (:func:`gil_jax.predictor.make_optimizer`: Adam/SGD, learning-rate decay) on the mean
  cross-entropy; the loop (``lax.scan`` of ``eval_every`` steps, a validation pass
  keeping the best parameters, ``num_evals`` blocks) is that of
  :func:`gil_jax.training.step.make_trainer`, so ``init_fn``/``run_fn`` compose with
  ``vmap`` the same way.

  Args:
    config: a :class:`TrainConfig` with ``source="plain"`` (the ablation trains on
      the placeholder-filled splits, like zero imputation).
    num_features: ``d``.
    num_classes: number of classes.
    importance_hidden: widths of ``h_psi``.
    condition_on_mask: see :class:`InputSpaceMLP`; then ``predict`` needs ``m``.

  Returns:
    A :class:`gil_jax.training.step.Trainer` whose ``predict(params, split)``
    gives class probabilities.
  """
  if config.source != "plain":
    raise ValueError(
        "the input-space ablation trains on placeholder-filled inputs without RL; "
        f"pass a TrainConfig with source='plain', got {config.source!r}")
  model = InputSpaceMLP(hidden=tuple(config.hidden), num_classes=num_classes,
                        importance_hidden=tuple(importance_hidden),
                        condition_on_mask=condition_on_mask)
  batch_size = config.batch_size

  def optimizer(hparams: HParams | None) -> optax.GradientTransformation:
    return make_optimizer(config, None if hparams is None else hparams.learning_rate)

  def loss_fn(params, batch: Split):
    logits, _, h = model.apply(params, batch.x, batch.m)
    return jnp.mean(metrics_lib.cross_entropy(logits, batch.y)), h

  def sample_idx(key, n):
    return jax.random.randint(key, (batch_size,), 0, n)

  def init(rng: jax.Array, train: Split, hparams: HParams | None = None
           ) -> TrainState:
    if train.x.shape[-1] != num_features:
      raise ValueError(f"trainer built for {num_features} features, data has "
                       f"{train.x.shape[-1]}")
    if hparams is None:
      hparams = default_hparams(config)
    rng, k_model, k_batch = jax.random.split(typed_key(rng), 3)
    params = model.init(k_model, train.x[:1], train.m[:1])
    return TrainState(step=jnp.zeros((), jnp.int32), rng=jax.random.key_data(rng),
                      hparams=hparams, params=params,
                      opt_state=optimizer(None).init(params),
                      batch_idx=sample_idx(k_batch, train.x.shape[0]), source=None,
                      best_params=params,
                      best_score=jnp.array(-jnp.inf, jnp.float32),
                      best_step=jnp.zeros((), jnp.int32))

  def step(state: TrainState, train: Split):
    rng, k_next = jax.random.split(typed_key(state.rng))
    batch = jax.tree.map(lambda v: v[state.batch_idx], train)
    (loss, h), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch)
    updates, opt_state = optimizer(state.hparams).update(grads, state.opt_state,
                                                         state.params)
    state = state._replace(step=state.step + 1, rng=jax.random.key_data(rng),
                           params=optax.apply_updates(state.params, updates),
                           opt_state=opt_state,
                           batch_idx=sample_idx(k_next, train.x.shape[0]))
    return state, {"loss": loss, "importance": jnp.mean(h)}

  run = make_run(config, step,
                 lambda params, split: model.apply(params, split.x, split.m)[0])

  def predict(params, split: Split):
    logits, _, _ = model.apply(params, split.x, split.m)
    return jax.nn.softmax(logits)

  return Trainer(config=config, init=jax.jit(init),
                 run=jax.jit(run, static_argnames="num_evals", donate_argnums=0),
                 predict=jax.jit(predict), init_fn=init, run_fn=run)
