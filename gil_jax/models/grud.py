"""GRU-D (Che et al. 2018), the time-series baseline: decays towards the training
mean and the last observation, the mask and time gaps as inputs."""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from gil_jax.data.containers import Split
from gil_jax.models.base import Model, register_model
from gil_jax.models.sequence_checks import check_sequence, check_shape, sequence_mask, zero_padding


# ------------------------------------------------------------------ input checks


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
  with Missing Values"), the time-series baseline of the paper's tables.

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
    batch, max_len, d = check_sequence(x, lengths)
    check_shape("m", m, x.shape)
    check_shape("delta", delta, x.shape)
    check_shape("x_mean", x_mean, (d,))
    hidden = self.hidden_size
    valid = sequence_mask(lengths, max_len)
    x = zero_padding(x, valid)
    m = zero_padding(m.astype(x.dtype), valid)
    delta = zero_padding(delta.astype(x.dtype), valid)

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


def grud_model(hidden, num_classes: int) -> Model:
  """:class:`GRUD` (``hidden[0]`` units) as a :class:`~gil_jax.models.base.Model`.

  GRU-D has no importance-weighted encoder: it trains with the plain gradient only.
  Inputs are standardised, so the observed training mean ``x_mean`` is 0.
  """
  module = GRUD(hidden_size=hidden[0], num_classes=num_classes)

  def inputs(batch: Split):
    return (batch.x, batch.m, time_since_observed(batch.m), batch.length,
            jnp.zeros(batch.x.shape[-1:], batch.x.dtype))

  def apply(params, batch: Split, probe=None):
    del probe
    return module.apply(params, *inputs(batch)), None

  return Model(module=module, init=lambda key, batch: module.init(key, *inputs(batch)),
               apply=apply, observe=None, summary_features=lambda features: None,
               valid_steps=lambda features: None,
               encoder_inputs=None, probe_shape=None, is_sequence=True)


register_model("grud", grud_model)
