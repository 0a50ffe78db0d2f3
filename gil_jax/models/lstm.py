"""GIL's LSTM (paper App. A): the input kernels are the encoder.

:class:`LSTMPredictor` is the sequential counterpart of
:class:`gil_jax.models.MLPPredictor`.  Its encoder is the LSTM's input kernel
``W = [W_i, W_f, W_g, W_o]`` (``d x 4H``); by Prop. 2 (App. A) the gradient of the loss
w.r.t. ``W`` at step ``t`` is an outer product ``x_t^T delta_t`` over the gate
pre-activations, so GIL's rule (eq. 4) becomes

    dW = sum_{b, t valid} (x_{b,t} * a_{b,t})^T delta_{b,t}.

All steps are projected in one matmul (``[B*T, d] @ [d, 4H]``) through
:class:`gil_jax.importance.ImportanceDense` before the recurrence, so the importance
acts in exactly one place; ``lax.scan`` then only adds ``h_{t-1} @ U``.  The recurrent
kernel ``U``, the biases and the output layer get plain gradients.

Variable lengths: a sequence of length ``L`` is stored in the first ``L`` steps of a
``[T, ...]`` array.  Steps ``t >= L`` leave the recurrent state unchanged (the carry is
frozen by a ``where``) and their inputs are zeroed on entry, so whatever the padding
holds (NaN included) reaches neither the logits nor any gradient.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from gil_jax.importance import ImportanceDense
from gil_jax.data.containers import Split
from gil_jax.models.base import Model, register_model
from gil_jax.models.sequence_checks import check_sequence, check_shape, sequence_mask, zero_padding


# ------------------------------------------------------------------ input checks


def _lstm_bias_init(hidden_size: int) -> Callable[..., jax.Array]:
  """Zeros except the forget-gate block, set to 1 (Jozefowicz et al. 2015)."""
  def init(key, shape, dtype=jnp.float32):
    del key
    return jnp.zeros(shape, dtype).at[hidden_size:2 * hidden_size].set(1.0)
  return init


class LSTMFeatures(NamedTuple):
  """What the RL state and GIL-D need from an LSTM forward pass.

  Attributes:
    c: ``[B, T, H]`` cell state after step ``t``; frozen at its last valid value on
      padded steps.
    h: ``[B, T, H]`` hidden state after step ``t``; frozen likewise.
    last_hidden: ``[B, H]`` ``h`` at step ``length - 1``: the sequence's feature
      ``zeta`` (input of the output layer; the features of GIL-D's eq. 43).
    valid: ``[B, T]`` bool, ``t < length``: which (sample, step) pairs are real.
  """
  c: jax.Array
  h: jax.Array
  last_hidden: jax.Array
  valid: jax.Array


class LSTMPredictor(nn.Module):
  """LSTM whose input kernel is GIL's encoder (App. A, eq. 6-7), then a dense output.

  Gates (eq. 6), with ``u_t = x_t W + b`` computed for all steps at once::

      [i, f, g, o] = u_t + h_{t-1} U
      c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
      h_t = sigmoid(o) * tanh(c_t)

  Parameters: ``encoder/{kernel [d, 4H], bias [4H]}`` (gate blocks in the order
  ``i, f, g, o``; the encoder-kernel path is the MLP's, ``("params", "encoder",
  "kernel")``), ``recurrent_kernel [H, 4H]`` and ``logits/{kernel, bias}``.

  The prediction reads the last valid hidden state (the authors' sequence code
  classifies the whole sequence; eq. 7's per-step outputs are not used).

  Attributes:
    hidden_size: ``H``.
    num_classes: number of output logits.
  """
  hidden_size: int
  num_classes: int

  @nn.compact
  def __call__(self, x: jax.Array, lengths: jax.Array,
               importance: jax.Array | None = None,
               encoder_probe: jax.Array | None = None
               ) -> tuple[jax.Array, LSTMFeatures]:
    """Returns ``(logits [B, C], features)``.

    Args:
      x: ``[B, T, d]`` inputs, missing entries holding the placeholder; steps
        ``t >= lengths[b]`` are padding and may hold anything.
      lengths: ``[B]`` integer number of valid steps, in ``[1, T]``.
      importance: ``[B, T, d]`` importance ``a_{b,t}`` for the input-kernel gradient
        (eq. 4, App. A); ``None`` trains with the plain gradient.  Ignored on
        padded steps.
      encoder_probe: optional ``[B, T, 4H]`` added to the gate pre-activations
        ``u = x W + b``; the gradient w.r.t. a zero probe is ``delta_{b,t}``, the
        cotangent :func:`gil_jax.importance.importance_weighted_encoder` consumes.
        It is zero on padded steps, but pass ``encoder_inputs`` with the padding
        zeroed (``where(features.valid[..., None], x, 0)``): ``0 * NaN`` is NaN.

    Returns:
      ``logits`` ``[B, C]`` from the last valid hidden state, and
      :class:`LSTMFeatures`.

    Raises:
      ValueError: on a shape mismatch, non-integer lengths, or concrete lengths
        outside ``[1, T]``.
    """
    lengths = jnp.asarray(lengths)
    batch, max_len, d = check_sequence(x, lengths)
    width = 4 * self.hidden_size
    if importance is not None:
      check_shape("importance", importance, x.shape)
    if encoder_probe is not None:
      check_shape("encoder_probe", encoder_probe, (batch, max_len, width))

    valid = sequence_mask(lengths, max_len)
    x = zero_padding(x, valid)
    flat_importance = None
    if importance is not None:
      flat_importance = zero_padding(importance, valid).reshape(-1, d)
    # One matmul for all steps, so that the importance weights W's gradient in one
    # place; the recurrence below only adds h_{t-1} U.
    u = ImportanceDense(width, bias_init=_lstm_bias_init(self.hidden_size),
                        name="encoder")(x.reshape(-1, d), flat_importance)
    u = u.reshape(batch, max_len, width)
    if encoder_probe is not None:
      u = u + encoder_probe
    u = zero_padding(u, valid)
    recurrent = self.param("recurrent_kernel", nn.initializers.orthogonal(),
                           (self.hidden_size, width), jnp.float32)

    def step(carry, inputs):
      c, h = carry
      u_t, valid_t = inputs
      i, f, g, o = jnp.split(u_t + h @ recurrent, 4, axis=-1)   # eq. (6)
      c_new = nn.sigmoid(f) * c + nn.sigmoid(i) * jnp.tanh(g)
      h_new = nn.sigmoid(o) * jnp.tanh(c_new)
      # Freezing the carry makes h at the last step the last *valid* h, and stops
      # the cotangent at padded steps, so padding reaches no gradient.
      keep = valid_t[:, None]
      c_new = jnp.where(keep, c_new, c)
      h_new = jnp.where(keep, h_new, h)
      return (c_new, h_new), (c_new, h_new)

    zeros = jnp.zeros((batch, self.hidden_size), u.dtype)
    (_, h_last), (cs, hs) = jax.lax.scan(
        step, (zeros, zeros), (jnp.swapaxes(u, 0, 1), jnp.swapaxes(valid, 0, 1)))
    logits = nn.Dense(self.num_classes, name="logits")(h_last)
    features = LSTMFeatures(c=jnp.swapaxes(cs, 0, 1), h=jnp.swapaxes(hs, 0, 1),
                            last_hidden=h_last, valid=valid)
    return logits, features


def sequence_policy_state(x: jax.Array, m: jax.Array, c: jax.Array, h: jax.Array,
                          valid: jax.Array | None = None) -> jax.Array:
  """The RL state per sample and step, ``s_{b,t} = (x_t, m_t, c_t, h_t)`` (as in
  the authors' sequence code).

  ``(c_t, h_t)`` are the LSTM states after step ``t`` (``LSTMFeatures.c``/``.h``), as
  in the authors' sequence code; the action ``a_{b,t}`` weights ``x_t``'s gradient.

  Args:
    x: ``[B, T, d]`` placeholder-filled inputs.
    m: ``[B, T, d]`` mask.
    c: ``[B, T, H]`` cell states.
    h: ``[B, T, H]`` hidden states.
    valid: optional ``[B, T]`` bool; padded steps' states are set to 0 so that
      padding garbage cannot reach the actor.

  Returns:
    ``[B, T, 2d + 2H]`` with ``stop_gradient``: the state is an observation.
  """
  if x.ndim != 3:
    raise ValueError(f"x must be [B, T, d], got shape {tuple(x.shape)}")
  check_shape("m", m, x.shape)
  if c.ndim != 3 or c.shape[:2] != x.shape[:2]:
    raise ValueError(f"c must be [B, T, H] with (B, T) = {x.shape[:2]}, got "
                     f"{tuple(c.shape)}")
  check_shape("h", h, c.shape)
  s = jnp.concatenate([x, m.astype(x.dtype), c, h], axis=-1)
  if valid is not None:
    check_shape("valid", valid, x.shape[:2])
    s = zero_padding(s, valid)
  return jax.lax.stop_gradient(s)


# ------------------------------------------------------------------ GRU-D baseline


def lstm_model(hidden, num_classes: int) -> Model:
  """:class:`LSTMPredictor` (``hidden[0]`` units) as a
  :class:`~gil_jax.models.base.Model`."""
  module = LSTMPredictor(hidden_size=hidden[0], num_classes=num_classes)

  def apply(params, batch: Split, probe=None):
    return module.apply(params, batch.x, batch.length, encoder_probe=probe)

  def observe(batch: Split, logits, features: LSTMFeatures):
    del logits
    return (sequence_policy_state(batch.x, batch.m, features.c, features.h,
                                  features.valid), features.valid)

  def encoder_inputs(batch: Split, features: LSTMFeatures):
    return jnp.where(features.valid[..., None], batch.x, 0.0)

  return Model(
      module=module,
      init=lambda key, batch: module.init(key, batch.x, batch.length),
      apply=apply, observe=observe,
      summary_features=lambda features: features.last_hidden,
      valid_steps=lambda features: features.valid,
      encoder_inputs=encoder_inputs,
      probe_shape=lambda batch: batch.x.shape[:-1] + (4 * hidden[0],),
      is_sequence=True)


register_model("lstm", lstm_model)
