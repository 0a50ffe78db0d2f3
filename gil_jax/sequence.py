"""Sequence predictors: GIL's LSTM (paper App. A) and the GRU-D baseline.

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

Length checks: shapes are always checked (they are static).  The values of ``lengths``
(``1 <= L <= T``) are checked when they are concrete, i.e. outside ``jit``/``vmap``;
under a trace they cannot be, and there a length ``>= T`` acts as ``T`` and a length
``<= 0`` leaves the zero initial state.  Call :func:`check_lengths` on the host when
the lengths come from data fed to a jitted step.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gil_jax.importance import ImportanceDense


# ------------------------------------------------------------------ input checks


def _concrete(x: Any) -> np.ndarray | None:
  """``x`` as a NumPy array, or ``None`` when it is traced (inside jit/vmap/grad)."""
  try:
    return np.asarray(x)
  except (jax.errors.TracerArrayConversionError,
          jax.errors.ConcretizationTypeError):
    return None


def _check_shape(name: str, x: jax.Array, expected: tuple[int, ...]) -> None:
  if tuple(x.shape) != tuple(expected):
    raise ValueError(f"{name} must have shape {tuple(expected)}, got {tuple(x.shape)}")


def check_lengths(lengths: jax.Array, max_len: int) -> None:
  """Raises ``ValueError`` unless ``lengths`` is an integer vector in ``[1, max_len]``.

  The dtype and rank are always checked; the values only when ``lengths`` is concrete
  (see the module docstring for what a traced length does).

  Args:
    lengths: ``[B]`` number of valid steps per sequence.
    max_len: ``T``, the padded length.
  """
  if lengths.ndim != 1:
    raise ValueError(f"lengths must be a vector [B], got shape {tuple(lengths.shape)}")
  if not jnp.issubdtype(lengths.dtype, jnp.integer):
    raise ValueError(f"lengths must have an integer dtype, got {lengths.dtype}")
  values = _concrete(lengths)
  if values is None:
    return
  if values.size and values.min() < 1:
    bad = np.flatnonzero(values < 1)
    raise ValueError(f"lengths must be >= 1 (empty sequences have no last hidden "
                     f"state); samples {bad.tolist()} have {values[bad].tolist()}")
  if values.size and values.max() > max_len:
    bad = np.flatnonzero(values > max_len)
    raise ValueError(f"lengths must be <= T = {max_len}; samples {bad.tolist()} have "
                     f"{values[bad].tolist()}")


def sequence_mask(lengths: jax.Array, max_len: int) -> jax.Array:
  """``valid[b, t] = t < lengths[b]``, shape ``[B, T]`` (bool)."""
  return jnp.arange(max_len)[None, :] < lengths[:, None]


def _check_sequence(x: jax.Array, lengths: jax.Array) -> tuple[int, int, int]:
  if x.ndim != 3:
    raise ValueError(f"x must be [B, T, d], got shape {tuple(x.shape)}")
  batch, max_len, d = x.shape
  if lengths.ndim != 1 or lengths.shape[0] != batch:
    raise ValueError(f"lengths must have shape ({batch},) to match x {tuple(x.shape)},"
                     f" got {tuple(lengths.shape)}")
  check_lengths(lengths, max_len)
  return batch, max_len, d


def _zero_padding(x: jax.Array, valid: jax.Array) -> jax.Array:
  # A where (not a product): padding may hold NaN/inf, and 0 * NaN is NaN.
  return jnp.where(valid[..., None], x, jnp.zeros((), x.dtype))


# ------------------------------------------------------------------ LSTM (App. A)


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
    batch, max_len, d = _check_sequence(x, lengths)
    width = 4 * self.hidden_size
    if importance is not None:
      _check_shape("importance", importance, x.shape)
    if encoder_probe is not None:
      _check_shape("encoder_probe", encoder_probe, (batch, max_len, width))

    valid = sequence_mask(lengths, max_len)
    x = _zero_padding(x, valid)
    flat_importance = None
    if importance is not None:
      flat_importance = _zero_padding(importance, valid).reshape(-1, d)
    # One matmul for all steps, so that the importance weights W's gradient in one
    # place (SPEC sec. 1); the recurrence below only adds h_{t-1} U.
    u = ImportanceDense(width, bias_init=_lstm_bias_init(self.hidden_size),
                        name="encoder")(x.reshape(-1, d), flat_importance)
    u = u.reshape(batch, max_len, width)
    if encoder_probe is not None:
      u = u + encoder_probe
    u = _zero_padding(u, valid)
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
  """The RL state per sample and step, ``s_{b,t} = (x_t, m_t, c_t, h_t)`` (SPEC sec. 1).

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
  _check_shape("m", m, x.shape)
  if c.ndim != 3 or c.shape[:2] != x.shape[:2]:
    raise ValueError(f"c must be [B, T, H] with (B, T) = {x.shape[:2]}, got "
                     f"{tuple(c.shape)}")
  _check_shape("h", h, c.shape)
  s = jnp.concatenate([x, m.astype(x.dtype), c, h], axis=-1)
  if valid is not None:
    _check_shape("valid", valid, x.shape[:2])
    s = _zero_padding(s, valid)
  return jax.lax.stop_gradient(s)


# ------------------------------------------------------------------ GRU-D baseline


def time_since_observed(m: jax.Array, times: jax.Array | None = None) -> jax.Array:
  """GRU-D's ``delta``: time since each variable was last observed (Che et al., eq. 2).

      delta_1 = 0,
      delta_t = s_t - s_{t-1} + (1 - m_{t-1}) * delta_{t-1}     (t > 1)

  Args:
    m: ``[B, T, d]`` mask (1 = observed).
    times: timestamps ``s_t``, ``[T]`` or ``[B, T]``; ``None`` means ``s_t = t``.

  Returns:
    ``[B, T, d]`` float32.  Padded steps get whatever the recursion gives; GRU-D
    ignores them.
  """
  if m.ndim != 3:
    raise ValueError(f"m must be [B, T, d], got shape {tuple(m.shape)}")
  batch, max_len, _ = m.shape
  if times is None:
    times = jnp.arange(max_len, dtype=jnp.float32)
  times = jnp.asarray(times, jnp.float32)
  if times.shape not in ((max_len,), (batch, max_len)):
    raise ValueError(f"times must be [T] or [B, T] = {(batch, max_len)}, got "
                     f"{tuple(times.shape)}")
  times = jnp.broadcast_to(times, (batch, max_len))
  gaps = jnp.diff(times, axis=1, prepend=times[:, :1])[..., None]    # [B, T, 1]
  observed = (m > 0).astype(jnp.float32)

  def step(prev, inputs):
    gap_t, m_prev = inputs
    delta = gap_t + (1.0 - m_prev) * prev
    return delta, delta

  init = jnp.zeros(m.shape[::2], jnp.float32)                        # [B, d]
  m_prev = jnp.swapaxes(observed, 0, 1)[:-1]
  gaps_t = jnp.broadcast_to(jnp.swapaxes(gaps, 0, 1)[1:], m_prev.shape)
  _, rest = jax.lax.scan(step, init, (gaps_t, m_prev))
  return jnp.concatenate([init[:, None], jnp.swapaxes(rest, 0, 1)], axis=1)


def grud_decay(delta: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
  """Decay rate ``gamma = exp(-max(0, delta * kernel + bias))`` (Che et al., eq. 3).

  ``kernel`` is a vector (GRU-D's diagonal input decay); for the hidden decay pass
  ``delta @ W_gh`` as ``delta`` with ``kernel = 1``.
  """
  return jnp.exp(-jax.nn.relu(delta * kernel + bias))


def grud_impute(x: jax.Array, m: jax.Array, gamma_x: jax.Array,
                x_mean: jax.Array) -> jax.Array:
  """GRU-D's input decay (Che et al., eq. 4).

      x_hat_t = m_t x_t + (1 - m_t) (gamma_x_t x_last_t + (1 - gamma_x_t) x_mean)

  where ``x_last_t`` is the last observed value of each variable before ``t``, and
  ``x_mean`` where the variable has not been observed yet.

  Args:
    x: ``[B, T, d]`` (missing entries may hold anything, NaN included).
    m: ``[B, T, d]`` mask.
    gamma_x: ``[B, T, d]`` decay rates in ``(0, 1]``.
    x_mean: ``[d]`` empirical (training) means.

  Returns:
    ``x_hat`` ``[B, T, d]``.
  """
  observed = m > 0
  steps = jnp.arange(x.shape[1])[None, :, None]
  # Index of the last observation up to t, per variable (-1: none yet).  When m_t = 1
  # it is t itself, but then x_hat_t = x_t, so "up to t" and "before t" agree.
  last = jax.lax.cummax(jnp.where(observed, steps, -1), axis=1)
  x_last = jnp.take_along_axis(jnp.where(observed, x, 0.0), jnp.maximum(last, 0),
                               axis=1)
  x_last = jnp.where(last >= 0, x_last, x_mean)
  decayed = gamma_x * x_last + (1.0 - gamma_x) * x_mean
  return jnp.where(observed, x, decayed)


def _positive_uniform(scale: float) -> Callable[..., jax.Array]:
  # Decay weights start positive: max(0, .) has zero gradient below 0, so a weight
  # initialised negative would never learn to decay.
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, 0.0, scale)
  return init


class GRUD(nn.Module):
  """GRU-D (Che et al. 2018, "Recurrent Neural Networks for Multivariate Time Series
  with Missing Values"), a time-series baseline of SPEC sec. 2.

  Per step, with ``delta`` from :func:`time_since_observed`::

      gamma_x = exp(-max(0, W_gx delta_t + b_gx))      (W_gx diagonal)
      gamma_h = exp(-max(0, delta_t W_gh + b_gh))
      x_hat_t = m_t x_t + (1 - m_t)(gamma_x x_last + (1 - gamma_x) x_mean)
      h_hat   = gamma_h * h_{t-1}
      z = sigmoid([x_hat_t, m_t] W_z + h_hat U_z + b_z)
      r = sigmoid([x_hat_t, m_t] W_r + h_hat U_r + b_r)
      h~ = tanh([x_hat_t, m_t] W_h + (r * h_hat) U_h + b_h)
      h_t = (1 - z) * h_hat + z * h~

  The mask enters the gates as an input, as in the paper.  The decays and the input
  projection are computed for all steps at once (none depends on ``h``); only the
  GRU update runs in ``lax.scan``.  Padded steps leave ``h`` unchanged (no decay
  either), and logits come from the last valid ``h``.

  ``x_hat``, ``gamma_x``, ``gamma_h`` and ``h`` (all ``[B, T, .]``) are sown in the
  ``intermediates`` collection (``apply(..., mutable=["intermediates"])``).

  Attributes:
    hidden_size: ``H``.
    num_classes: number of output logits.
    decay_init_scale: decay weights start uniform in ``[0, decay_init_scale]``.
  """
  hidden_size: int
  num_classes: int
  decay_init_scale: float = 0.1

  @nn.compact
  def __call__(self, x: jax.Array, m: jax.Array, delta: jax.Array,
               lengths: jax.Array, x_mean: jax.Array) -> jax.Array:
    """Returns logits ``[B, C]``.

    Args:
      x: ``[B, T, d]`` inputs (placeholder-filled; missing values are not read).
      m: ``[B, T, d]`` mask, 1 = observed.
      delta: ``[B, T, d]`` time since last observation (:func:`time_since_observed`).
      lengths: ``[B]`` integer number of valid steps, in ``[1, T]``.
      x_mean: ``[d]`` empirical means over the training set's observed entries.

    Raises:
      ValueError: as :class:`LSTMPredictor`.
    """
    lengths = jnp.asarray(lengths)
    batch, max_len, d = _check_sequence(x, lengths)
    _check_shape("m", m, x.shape)
    _check_shape("delta", delta, x.shape)
    _check_shape("x_mean", x_mean, (d,))
    hidden = self.hidden_size
    valid = sequence_mask(lengths, max_len)
    x = _zero_padding(x, valid)
    m = _zero_padding(m.astype(x.dtype), valid)
    delta = _zero_padding(delta.astype(x.dtype), valid)

    init = _positive_uniform(self.decay_init_scale)
    w_gx = self.param("input_decay_kernel", init, (d,), jnp.float32)
    b_gx = self.param("input_decay_bias", nn.initializers.zeros_init(), (d,),
                      jnp.float32)
    gamma_x = grud_decay(delta, w_gx, b_gx)
    gamma_h = grud_decay(nn.Dense(hidden, kernel_init=init, name="hidden_decay")(delta),
                         1.0, 0.0)
    x_hat = grud_impute(x, m, gamma_x, x_mean)
    # [W_z, W_r, W_h] and [V_z, V_r, V_h] for all steps in one matmul.
    u = nn.Dense(3 * hidden, name="input")(jnp.concatenate([x_hat, m], axis=-1))
    recurrent = self.param("recurrent_kernel", nn.initializers.orthogonal(),
                           (hidden, 3 * hidden), jnp.float32)

    def step(h, inputs):
      u_t, gamma_h_t, valid_t = inputs
      h_hat = gamma_h_t * h
      zr = nn.sigmoid(u_t[:, :2 * hidden] + h_hat @ recurrent[:, :2 * hidden])
      z, r = jnp.split(zr, 2, axis=-1)
      cand = jnp.tanh(u_t[:, 2 * hidden:] + (r * h_hat) @ recurrent[:, 2 * hidden:])
      h_new = (1.0 - z) * h_hat + z * cand
      h_new = jnp.where(valid_t[:, None], h_new, h)
      return h_new, h_new

    time_major = lambda v: jnp.swapaxes(v, 0, 1)
    h_last, hs = jax.lax.scan(
        step, jnp.zeros((batch, hidden), x.dtype),
        (time_major(u), time_major(gamma_h), time_major(valid)))
    self.sow("intermediates", "x_hat", x_hat)
    self.sow("intermediates", "gamma_x", gamma_x)
    self.sow("intermediates", "gamma_h", gamma_h)
    self.sow("intermediates", "h", time_major(hs))
    return nn.Dense(self.num_classes, name="logits")(h_last)
