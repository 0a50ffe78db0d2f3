"""BRITS (Cao et al. 2018, "BRITS: Bidirectional Recurrent Imputation for Time
Series"): an LSTM that imputes each missing entry from its own history and from the
other variables, run forwards and backwards, trained jointly with the classifier.

One direction (RITS), per step ``t`` with ``delta_t`` the time since each variable
was last observed (GRU-D's, :func:`gil_jax.models.grud.time_since_observed`)::

    gamma_h = exp(-max(0, delta_t W_gh + b_gh))            temporal decay of h
    gamma_x = exp(-max(0, delta_t * w_gx + b_gx))          (diagonal)
    h       = gamma_h * h_{t-1}
    x_h     = h W_x + b_x                                  history regression
    x_c     = m_t x_t + (1 - m_t) x_h
    z_h     = x_c (W_z * (1 - I)) + b_z                    feature regression
    beta    = sigmoid([gamma_x, m_t] W_b + b_b)            combination weights
    c_h     = beta z_h + (1 - beta) x_h
    c_c     = m_t x_t + (1 - m_t) c_h                      the imputation
    h_t, c_t = LSTMCell([c_c, m_t], (h, c_{t-1}))

Its imputation loss sums, over steps, the mean absolute error of ``x_h``, ``z_h``
and ``c_h`` on the observed entries of the step.  BRITS runs a second RITS on each
sequence reversed within its length, averages the two directions' class
probabilities and imputations, and trains on

    label_weight * (CE_f + CE_b) + impute_weight * (L_f + L_b)
        + 0.1 * mean |imputation_f - imputation_b|             (consistency)

Variable lengths: steps ``t >= length`` are zeroed on entry, leave the recurrent
state unchanged and add nothing to any loss term (a step's error is normalised by
its own observed count, the consistency mean by the valid entries), so a sequence
gives the same loss and outputs however much padding follows it.

Differences from the authors' code, all deliberate: the output layer is a
``num_classes``-way softmax (the same as a sigmoid for two classes); there is no
dropout before it; and no observed entries are held out of the inputs (the authors
removed 10 % to score imputations).
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from gil_jax.data.containers import Split
from gil_jax.models.base import Model, register_model
from gil_jax.models.grud import time_since_observed
from gil_jax.models.sequence_checks import (
  check_sequence,
  check_shape,
  sequence_mask,
  zero_padding,
)

IMPUTE_WEIGHT = 0.3        # the authors' recommended weights
LABEL_WEIGHT = 1.0
CONSISTENCY_WEIGHT = 0.1   # the authors' code
_EPS = 1e-5                # in each step's error normaliser, as the authors'


class BRITSFeatures(NamedTuple):
  """What BRITS' loss and its users need from a forward pass.

  Attributes:
    logits_forward, logits_backward: ``[B, C]`` each direction's logits.
    imputations: ``[B, T, d]`` the two directions' ``c_c`` averaged (observed
      entries are ``x``; padded steps 0).
    imputations_forward, imputations_backward: ``[B, T, d]`` each direction's,
      the backward one in forward time order.
    imputation_loss: the two directions' imputation losses, summed.
    consistency: mean ``|imputations_forward - imputations_backward|`` over the
      valid entries.
    valid: ``[B, T]`` real steps.
  """
  logits_forward: jax.Array
  logits_backward: jax.Array
  imputations: jax.Array
  imputations_forward: jax.Array
  imputations_backward: jax.Array
  imputation_loss: jax.Array
  consistency: jax.Array
  valid: jax.Array


def reverse_within_length(v: jax.Array, lengths: jax.Array) -> jax.Array:
  """``v [B, T, ...]`` with each sequence's first ``length`` steps reversed and its
  padding left in place (an involution)."""
  steps = jnp.arange(v.shape[1])[None, :]
  idx = jnp.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
  idx = idx.reshape(idx.shape + (1,) * (v.ndim - 2))
  return jnp.take_along_axis(v, idx, axis=1)


def step_error(x: jax.Array, estimate: jax.Array, m: jax.Array) -> jax.Array:
  """``sum_t sum |x - estimate| m / (sum m + eps)``: each step's mean absolute error
  on its observed entries (over the batch), summed over steps (``[B, T, d]``)."""
  err = jnp.sum(jnp.abs(x - estimate) * m, axis=(0, 2))
  return jnp.sum(err / (jnp.sum(m, axis=(0, 2)) + _EPS))


class RITS(nn.Module):
  """One direction of BRITS (see the module docstring).

  Attributes:
    hidden_size: LSTM units ``H``.
    num_classes: output logits.
  """
  hidden_size: int
  num_classes: int

  @nn.compact
  def __call__(self, x: jax.Array, m: jax.Array, delta: jax.Array,
               valid: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Returns ``(logits [B, C], imputations [B, T, d], imputation loss)``.

    ``x``, ``m``, ``delta`` are ``[B, T, d]`` with padded steps already zeroed;
    ``valid [B, T]``.
    """
    batch, _, d = x.shape
    hidden = self.hidden_size
    dense = nn.initializers.lecun_normal()
    # Decays and the input side of the combination weights depend on no state.
    gamma_h = jnp.exp(-nn.relu(nn.Dense(hidden, name="hidden_decay")(delta)))
    w_gx = self.param("input_decay_kernel", nn.initializers.uniform(1.0), (d,))
    b_gx = self.param("input_decay_bias", nn.initializers.zeros_init(), (d,))
    gamma_x = jnp.exp(-nn.relu(delta * w_gx + b_gx))
    beta = nn.sigmoid(nn.Dense(d, name="combine")(jnp.concatenate([gamma_x, m], -1)))

    w_hist = self.param("history_kernel", dense, (hidden, d))
    b_hist = self.param("history_bias", nn.initializers.zeros_init(), (d,))
    w_feat = self.param("feature_kernel", dense, (d, d))
    b_feat = self.param("feature_bias", nn.initializers.zeros_init(), (d,))
    w_in = self.param("lstm_input_kernel", dense, (2 * d, 4 * hidden))
    w_rec = self.param("lstm_recurrent_kernel", nn.initializers.orthogonal(),
                       (hidden, 4 * hidden))
    b_lstm = self.param("lstm_bias", nn.initializers.zeros_init(), (4 * hidden,))
    off_diagonal = 1.0 - jnp.eye(d, dtype=x.dtype)   # z_h may not read x_t itself

    def step(carry, inputs):
      h, c = carry
      x_t, m_t, gamma_h_t, beta_t, valid_t = inputs
      h_dec = gamma_h_t * h
      x_h = h_dec @ w_hist + b_hist
      x_c = m_t * x_t + (1.0 - m_t) * x_h
      z_h = x_c @ (w_feat * off_diagonal) + b_feat
      c_h = beta_t * z_h + (1.0 - beta_t) * x_h
      c_c = m_t * x_t + (1.0 - m_t) * c_h
      gates = jnp.concatenate([c_c, m_t], -1) @ w_in + h_dec @ w_rec + b_lstm
      i, f, g, o = jnp.split(gates, 4, axis=-1)
      c_new = nn.sigmoid(f) * c + nn.sigmoid(i) * jnp.tanh(g)
      h_new = nn.sigmoid(o) * jnp.tanh(c_new)
      keep = valid_t[:, None]
      h_new, c_new = jnp.where(keep, h_new, h), jnp.where(keep, c_new, c)
      return (h_new, c_new), (x_h, z_h, c_h, c_c)

    time_major = lambda v: jnp.swapaxes(v, 0, 1)
    zeros = jnp.zeros((batch, hidden), x.dtype)
    (h_last, _), outs = jax.lax.scan(
        step, (zeros, zeros),
        tuple(map(time_major, (x, m, gamma_h, beta, valid))))
    x_h, z_h, c_h, c_c = map(time_major, outs)
    loss = step_error(x, x_h, m) + step_error(x, z_h, m) + step_error(x, c_h, m)
    imputations = zero_padding(c_c, valid)
    logits = nn.Dense(self.num_classes, name="logits")(h_last)
    return logits, imputations, loss


class BRITS(nn.Module):
  """Forward and backward :class:`RITS` with averaged predictions and imputations.

  Attributes:
    hidden_size: LSTM units per direction.
    num_classes: output logits.
  """
  hidden_size: int
  num_classes: int

  @nn.compact
  def __call__(self, x: jax.Array, m: jax.Array, lengths: jax.Array
               ) -> tuple[jax.Array, BRITSFeatures]:
    """Returns ``(logits [B, C], features)``; ``logits`` are the log of the two
    directions' averaged class probabilities.

    Args:
      x: ``[B, T, d]`` inputs (missing entries are not read).
      m: ``[B, T, d]`` mask, 1 = observed.
      lengths: ``[B]`` integer number of valid steps, in ``[1, T]``.
    """
    lengths = jnp.asarray(lengths)
    _, max_len, d = check_sequence(x, lengths)
    check_shape("m", m, x.shape)
    valid = sequence_mask(lengths, max_len)
    m = zero_padding((m > 0).astype(x.dtype), valid)
    x = zero_padding(jnp.where(m > 0, x, 0.0), valid)    # NaN-safe: where, not m * x
    x_b, m_b = reverse_within_length(x, lengths), reverse_within_length(m, lengths)
    logits_f, imp_f, loss_f = RITS(self.hidden_size, self.num_classes,
                                   name="forward")(x, m, time_since_observed(m), valid)
    logits_b, imp_b, loss_b = RITS(self.hidden_size, self.num_classes,
                                   name="backward")(x_b, m_b, time_since_observed(m_b),
                                                    valid)
    imp_b = reverse_within_length(imp_b, lengths)
    cells = jnp.sum(valid) * d
    consistency = jnp.sum(jnp.abs(imp_f - imp_b)) / cells   # padded entries are 0
    log_probs = jnp.stack([jax.nn.log_softmax(logits_f), jax.nn.log_softmax(logits_b)])
    logits = jax.nn.logsumexp(log_probs, axis=0) - jnp.log(2.0)
    features = BRITSFeatures(
        logits_forward=logits_f, logits_backward=logits_b,
        imputations=(imp_f + imp_b) / 2, imputations_forward=imp_f,
        imputations_backward=imp_b, imputation_loss=loss_f + loss_b,
        consistency=consistency, valid=valid)
    return logits, features


def _cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy ``-log p(y | x)`` over the batch."""
  logp = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.mean(jnp.take_along_axis(logp, labels[..., None], axis=-1))


def brits_loss(batch: Split, features: BRITSFeatures,
               impute_weight: float = IMPUTE_WEIGHT,
               label_weight: float = LABEL_WEIGHT) -> jax.Array:
  """BRITS' training loss of a batch (see the module docstring)."""
  ce = (_cross_entropy(features.logits_forward, batch.y)
        + _cross_entropy(features.logits_backward, batch.y))
  return (label_weight * ce + impute_weight * features.imputation_loss
          + CONSISTENCY_WEIGHT * features.consistency)


def brits_model(hidden, num_classes: int) -> Model:
  """:class:`BRITS` (``hidden[0]`` units per direction) as a
  :class:`~gil_jax.models.base.Model` with its own loss; no importance-weighted
  encoder (it trains with its plain gradient)."""
  module = BRITS(hidden_size=hidden[0], num_classes=num_classes)

  def apply(params, batch: Split, probe=None):
    del probe
    return module.apply(params, batch.x, batch.m, batch.length)

  return Model(
      module=module,
      init=lambda key, batch: module.init(key, batch.x, batch.m, batch.length),
      apply=apply, observe=None, summary_features=lambda features: None,
      valid_steps=lambda features: features.valid, encoder_inputs=None,
      probe_shape=None, is_sequence=True,
      loss=lambda batch, logits, features: brits_loss(batch, features))


register_model("brits", brits_model)
