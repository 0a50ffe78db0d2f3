"""LSTM encoder gradients (App. A + eq. 4) and GRU-D, against their definitions."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gil_jax.importance import encoder_cotangents, importance_weighted_encoder
from gil_jax.metrics import cross_entropy
from gil_jax.models.grud import (GRUD, grud_decay, grud_impute,
                                 time_since_observed)
from gil_jax.models.lstm import LSTMPredictor, sequence_policy_state
from gil_jax.models.sequence_checks import check_lengths

B, T, D, H, C = 4, 6, 3, 2, 3
LENGTHS = jnp.array([6, 3, 1, 4], jnp.int32)


# Module applications are jitted: on CPU one compiled program is much faster than
# op-by-op dispatch.  Length checks are exercised eagerly, where they run.
@functools.partial(jax.jit, static_argnums=(0, 1))
def _apply(model, mutable, params, *args, **kwargs):
  return model.apply(params, *args, mutable=mutable or False, **kwargs)


def _lstm_problem(seed=0):
  kx, ky, ka, kp = jax.random.split(jax.random.key(seed), 4)
  x = jax.random.normal(kx, (B, T, D))
  y = jax.random.randint(ky, (B,), 0, C)
  a = jax.random.uniform(ka, (B, T, D))
  model = LSTMPredictor(hidden_size=H, num_classes=C)
  params = jax.jit(model.init)(kp, x, LENGTHS)
  return model, params, x, y, a


def _mean_loss(model, params, x, lengths, y, a=None):
  logits, _ = model.apply(params, x, lengths, a)
  return jnp.mean(cross_entropy(logits, y))


_grad = jax.jit(jax.grad(_mean_loss, argnums=1), static_argnums=0)


def _reference_loss(params, step_kernels, x_seq, y):
  """One sequence's loss by eq. (6)-(7), unrolled; step t uses its own kernel copy.

  The gradient w.r.t. ``step_kernels[t]`` is step t's contribution to dL/dW.
  """
  p = params["params"]
  c = h = jnp.zeros(H)
  for t in range(x_seq.shape[0]):
    z = x_seq[t] @ step_kernels[t] + p["encoder"]["bias"] + h @ p["recurrent_kernel"]
    i, f, g, o = jnp.split(z, 4)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
  logits = h @ p["logits"]["kernel"] + p["logits"]["bias"]
  return cross_entropy(logits[None], y[None])[0], logits


# One sample's reference gradients (and logits), compiled once per length.
_reference_grads = jax.jit(jax.grad(_reference_loss, argnums=(0, 1), has_aux=True))


def test_factored_lstm_gradient_matches_per_example_per_step_definition():
  model, params, x, y, a = _lstm_problem(1)
  grads = _grad(model, params, x, LENGTHS, y, a)
  logits, feats = _apply(model, None, params, x, LENGTHS, a)
  kernel = params["params"]["encoder"]["kernel"]
  expected_kernel = jnp.zeros_like(kernel)
  expected_rest = jax.tree.map(jnp.zeros_like, params)
  for b in range(B):                       # lengths differ: one sample at a time
    n = int(LENGTHS[b])
    (g_params, g_steps), ref_logits = _reference_grads(
        params, jnp.broadcast_to(kernel, (n,) + kernel.shape), x[b, :n], y[b])
    # The forward pass is eq. (6)-(7) on the sample's valid steps.
    np.testing.assert_allclose(logits[b], ref_logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(feats.last_hidden[b], feats.h[b, n - 1])
    # mean_b sum_{t valid} grad_{b,t} * a_{b,t}[:, None]   (eq. 4, App. A)
    expected_kernel += jnp.sum(g_steps * a[b, :n, :, None], axis=0) / B
    expected_rest = jax.tree.map(lambda e, g: e + g / B, expected_rest, g_params)
  np.testing.assert_allclose(grads["params"]["encoder"]["kernel"], expected_kernel,
                             rtol=1e-5, atol=1e-6)
  # Biases, U and the output layer keep their plain gradients.
  for path in (("encoder", "bias"), ("recurrent_kernel",), ("logits", "kernel"),
               ("logits", "bias")):
    got, want = grads["params"], expected_rest["params"]
    for key in path:
      got, want = got[key], want[key]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  # Forget-gate bias starts at 1, the other gates at 0.
  np.testing.assert_array_equal(params["params"]["encoder"]["bias"],
                                np.repeat([0.0, 1.0, 0.0, 0.0], H))


def test_lstm_kernel_gradient_is_weighted_outer_product_of_probe_cotangents():
  model, params, x, y, a = _lstm_problem(2)
  grads = _grad(model, params, x, LENGTHS, y, a)

  def loss_with_probe(probe):
    logits, _ = model.apply(params, x, LENGTHS, encoder_probe=probe)
    return jnp.mean(cross_entropy(logits, y))
  delta = jax.jit(encoder_cotangents, static_argnums=(0, 1))(loss_with_probe,
                                                             (B, T, 4 * H))
  valid = np.arange(T)[None, :] < np.asarray(LENGTHS)[:, None]
  np.testing.assert_array_equal(np.asarray(delta)[~valid], 0.0)
  expected = jnp.einsum("btd,bth->dh", x * a, delta)      # sum_{b,t} (x*a)^T delta
  np.testing.assert_allclose(grads["params"]["encoder"]["kernel"], expected,
                             rtol=1e-5, atol=1e-6)
  # The optax form (what the GIL trainer chains in front of Adam) agrees.
  plain = _grad(model, params, x, LENGTHS, y)
  tx = importance_weighted_encoder(("params", "encoder", "kernel"))
  updates, _ = tx.update(plain, tx.init(params), params, encoder_inputs=x,
                         encoder_cotangents=delta, importance=a)
  chex.assert_trees_all_close(updates, grads, rtol=1e-5, atol=1e-6)


def test_lstm_importance_of_ones_gives_the_plain_gradient():
  model, params, x, y, _ = _lstm_problem(3)
  g_ones = _grad(model, params, x, LENGTHS, y,
                                           jnp.ones_like(x))
  g_plain = _grad(model, params, x, LENGTHS, y)
  chex.assert_trees_all_close(g_ones, g_plain, rtol=1e-6, atol=1e-7)
  # ... and the forward pass does not depend on the importance.
  np.testing.assert_array_equal(
      _apply(model, None, params, x, LENGTHS, jnp.zeros_like(x))[0],
      _apply(model, None, params, x, LENGTHS)[0])


def _garbage_padded(v, lengths, extra, seed):
  """``v`` [B, T, ...] with garbage at steps t >= length and ``extra`` more steps."""
  shape = (v.shape[0], v.shape[1] + extra) + v.shape[2:]
  junk = 1e4 * jax.random.normal(jax.random.key(seed), shape)
  junk = junk.at[:, -1].set(jnp.nan)                  # NaN too: must not leak
  padded = jnp.concatenate([v, jnp.zeros(shape)[:, v.shape[1]:]], axis=1)
  valid = jnp.arange(shape[1])[None, :] < lengths[:, None]
  return jnp.where(valid.reshape(valid.shape + (1,) * (v.ndim - 2)), padded, junk)


def test_lstm_padding_changes_neither_logits_nor_any_gradient():
  model, params, x, y, a = _lstm_problem(4)
  x_pad = _garbage_padded(x, LENGTHS, 3, 10)
  a_pad = _garbage_padded(a, LENGTHS, 3, 11)
  # Clean reference: padding filled with zeros, no extra steps.
  valid = (jnp.arange(T)[None, :] < LENGTHS[:, None])[..., None]
  x_clean, a_clean = jnp.where(valid, x, 0.0), jnp.where(valid, a, 0.0)
  l_clean, f_clean = _apply(model, None, params, x_clean, LENGTHS, a_clean)
  l_pad, feats = _apply(model, None, params, x_pad, LENGTHS, a_pad)
  np.testing.assert_allclose(l_pad, l_clean, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(feats.h[:, :T], f_clean.h, rtol=1e-6, atol=1e-7)
  g_clean = _grad(model, params, x_clean, LENGTHS, y, a_clean)
  g_pad = _grad(model, params, x_pad, LENGTHS, y, a_pad)
  chex.assert_tree_all_finite(g_pad)
  chex.assert_trees_all_close(g_pad, g_clean, rtol=1e-5, atol=1e-7)
  # The state stays frozen after each sequence ends.
  for b in range(B):
    n = int(LENGTHS[b])
    np.testing.assert_array_equal(feats.h[b, n:], np.broadcast_to(
        feats.h[b, n - 1], feats.h[b, n:].shape))
    np.testing.assert_array_equal(feats.c[b, n:], np.broadcast_to(
        feats.c[b, n - 1], feats.c[b, n:].shape))


@pytest.mark.parametrize("lengths,match", [
    ([6, 3, 0, 4], "lengths must be >= 1"),
    ([6, 3, 7, 4], "lengths must be <= T"),
    ([-1, 3, 2, 4], "lengths must be >= 1"),
    ([6, 3, 2], "lengths must have shape"),
])
def test_lstm_rejects_bad_lengths(lengths, match):
  model, params, x, _, _ = _lstm_problem()
  with pytest.raises(ValueError, match=match):
    model.apply(params, x, jnp.array(lengths, jnp.int32))


def test_lstm_rejects_bad_shapes_and_dtypes():
  model, params, x, _, a = _lstm_problem()
  with pytest.raises(ValueError, match="integer dtype"):
    model.apply(params, x, LENGTHS.astype(jnp.float32))
  with pytest.raises(ValueError, match="importance must have shape"):
    model.apply(params, x, LENGTHS, a[:, :, :2])
  with pytest.raises(ValueError, match="encoder_probe must have shape"):
    model.apply(params, x, LENGTHS, encoder_probe=jnp.zeros((B, T, H)))
  with pytest.raises(ValueError, match=r"x must be \[B, T, d\]"):
    model.apply(params, x[:, 0], LENGTHS)
  with pytest.raises(ValueError, match="lengths must be <= T"):
    check_lengths(jnp.array([7]), T)


def test_lstm_traced_lengths_beyond_t_act_as_t():
  # Under jit (as in _apply) lengths cannot be checked; documented behaviour.
  model, params, x, _, _ = _lstm_problem()
  too_long = _apply(model, None, params, x, jnp.full((B,), T + 5, jnp.int32))[0]
  np.testing.assert_allclose(
      too_long, _apply(model, None, params, x, jnp.full((B,), T, jnp.int32))[0],
      rtol=1e-6)


def test_sequence_policy_state_concatenates_and_blocks_gradients():
  model, params, x, _, _ = _lstm_problem()
  m = (x > 0).astype(jnp.float32)
  _, f = _apply(model, None, params, x, LENGTHS)
  s = sequence_policy_state(x, m, f.c, f.h, f.valid)
  assert s.shape == (B, T, 2 * D + 2 * H)
  np.testing.assert_array_equal(s[0, 0], jnp.concatenate([x[0, 0], m[0, 0], f.c[0, 0],
                                                          f.h[0, 0]]))
  np.testing.assert_array_equal(s[2, 1:], 0.0)            # padded steps of sample 2
  g = jax.grad(lambda x: sequence_policy_state(x, m, f.c, f.h).sum())(x)
  np.testing.assert_array_equal(g, 0.0)
  with pytest.raises(ValueError, match="m must have shape"):
    sequence_policy_state(x, m[:, :2], f.c, f.h)


# ------------------------------------------------------------------ GRU-D


def test_time_since_observed_on_a_hand_example():
  # One variable observed at steps 0 and 3; another only at step 2.
  m = jnp.array([[[1, 0], [0, 0], [0, 1], [1, 0], [0, 0]]], jnp.float32)
  np.testing.assert_allclose(time_since_observed(m)[0],
                             [[0, 0], [1, 1], [2, 2], [3, 1], [1, 2]])
  times = jnp.array([0.0, 0.5, 2.0, 3.0, 5.0])
  # var 0: 0, .5, .5+1.5, 2+1, then m_3 = 1: 2.   var 1: 0, .5, 2, then m_2 = 1: 1, 1+2.
  want = [[0, 0], [0.5, 0.5], [2, 2], [3, 1], [2, 3]]
  np.testing.assert_allclose(time_since_observed(m, times)[0], want)
  np.testing.assert_allclose(time_since_observed(m, times[None])[0], want)
  with pytest.raises(ValueError, match="times must be"):
    time_since_observed(m, times[:3])


def test_grud_decay_is_one_at_zero_gap_and_imputes_toward_the_mean():
  np.testing.assert_array_equal(grud_decay(jnp.zeros(3), jnp.ones(3), jnp.zeros(3)),
                                1.0)
  np.testing.assert_allclose(grud_decay(jnp.array([2.0]), jnp.array([0.5]),
                                        jnp.array([-0.25])), np.exp(-0.75))
  # A negative pre-activation clips to "no decay".
  np.testing.assert_array_equal(grud_decay(jnp.array([2.0]), jnp.array([-1.0]),
                                           jnp.array([0.0])), 1.0)
  x = jnp.array([[[4.0], [jnp.nan], [jnp.nan]]])
  m = jnp.array([[[1.0], [0.0], [0.0]]])
  gamma = jnp.array([[[1.0], [0.25], [1e-9]]])
  x_hat = grud_impute(x, m, gamma, jnp.array([2.0]))
  np.testing.assert_allclose(x_hat[0, :, 0], [4.0, 0.25 * 4 + 0.75 * 2, 2.0],
                             rtol=1e-6)


def _grud_problem(seed=0, d=2, hidden=3, classes=2):
  kx, km, kp = jax.random.split(jax.random.key(seed), 3)
  x = jax.random.normal(kx, (B, T, d))
  m = (jax.random.uniform(km, (B, T, d)) > 0.5).astype(jnp.float32)
  delta = time_since_observed(m)
  x_mean = jnp.arange(d, dtype=jnp.float32) - 0.5
  model = GRUD(hidden_size=hidden, num_classes=classes)
  params = jax.jit(model.init)(kp, x, m, delta, LENGTHS, x_mean)
  return model, params, x, m, delta, x_mean


def test_grud_input_decay_follows_the_formula_at_each_step():
  model, params, *_ = _grud_problem()
  # Variable 0 observed once (value 4) then missing; variable 1 never observed.
  x = jnp.array([[[4.0, 9.0], [0.0, 9.0], [0.0, 9.0], [0.0, 9.0], [0.0, 9.0]]])
  m = jnp.array([[[1.0, 0.0]] + [[0.0, 0.0]] * 4])
  delta = time_since_observed(m)
  x_mean = jnp.array([1.0, -1.0])
  p = jax.tree.map(lambda v: v, params)
  p["params"]["input_decay_kernel"] = jnp.array([0.5, 2.0])
  p["params"]["input_decay_bias"] = jnp.array([0.0, 0.0])
  _, inter = _apply(model, ("intermediates",), p, x, m, delta, jnp.array([5]),
                    x_mean)
  x_hat = inter["intermediates"]["x_hat"][0][0]
  gamma_x = inter["intermediates"]["gamma_x"][0][0]
  t = np.arange(5.0)
  np.testing.assert_allclose(gamma_x[:, 0], np.exp(-0.5 * t), rtol=1e-6)
  np.testing.assert_allclose(x_hat[:, 0], 1.0 + 3.0 * np.exp(-0.5 * t), rtol=1e-6)
  np.testing.assert_allclose(x_hat[:, 1], -1.0)     # never observed: the mean
  assert gamma_x[0, 0] == 1.0                       # delta = 0: no decay
  # A long gap decays all the way to the mean.
  long_delta = delta.at[0, 4, 0].set(100.0)
  _, inter = _apply(model, ("intermediates",), p, x, m, long_delta, jnp.array([5]),
                    x_mean)
  np.testing.assert_allclose(inter["intermediates"]["x_hat"][0][0, 4, 0], 1.0,
                             atol=1e-6)
  # Hidden decay: exp(-max(0, delta W_gh + b_gh)).
  hd = p["params"]["hidden_decay"]
  np.testing.assert_allclose(
      inter["intermediates"]["gamma_h"][0][0],
      np.exp(-np.maximum(0, long_delta[0] @ hd["kernel"] + hd["bias"])), rtol=1e-6)


def _grud_reference(p, x, m, delta, x_mean, n):
  """GRU-D on one sequence of length n, step by step (Che et al., eq. 3-5 and GRU)."""
  p = p["params"]
  hid = p["recurrent_kernel"].shape[0]
  h = jnp.zeros(hid)
  x_last = x_mean
  for t in range(n):
    gx = jnp.exp(-jax.nn.relu(p["input_decay_kernel"] * delta[t]
                              + p["input_decay_bias"]))
    gh = jnp.exp(-jax.nn.relu(delta[t] @ p["hidden_decay"]["kernel"]
                              + p["hidden_decay"]["bias"]))
    x_hat = m[t] * x[t] + (1 - m[t]) * (gx * x_last + (1 - gx) * x_mean)
    x_last = jnp.where(m[t] > 0, x[t], x_last)
    h = gh * h
    w, bias, u = p["input"]["kernel"], p["input"]["bias"], p["recurrent_kernel"]
    inp = jnp.concatenate([x_hat, m[t]]) @ w + bias
    z = jax.nn.sigmoid(inp[:hid] + h @ u[:, :hid])
    r = jax.nn.sigmoid(inp[hid:2 * hid] + h @ u[:, hid:2 * hid])
    cand = jnp.tanh(inp[2 * hid:] + (r * h) @ u[:, 2 * hid:])
    h = (1 - z) * h + z * cand
  return h @ p["logits"]["kernel"] + p["logits"]["bias"]


def test_grud_matches_step_by_step_reference_and_ignores_padding():
  model, params, x, m, delta, x_mean = _grud_problem(1)
  logits = _apply(model, None, params, x, m, delta, LENGTHS, x_mean)
  for b in range(B):
    n = int(LENGTHS[b])
    np.testing.assert_allclose(
        logits[b], _grud_reference(params, x[b], m[b], delta[b], x_mean, n),
        rtol=1e-5, atol=1e-6)
  pads = [_garbage_padded(v, LENGTHS, 2, s) for s, v in enumerate((x, m, delta))]
  loss = lambda p, x, m, dl: jnp.mean(model.apply(p, x, m, dl, LENGTHS, x_mean) ** 2)
  np.testing.assert_allclose(_apply(model, None, params, *pads, LENGTHS, x_mean),
                             logits, rtol=1e-6, atol=1e-7)
  grad = jax.jit(jax.grad(loss))
  g_pad = grad(params, *pads)
  chex.assert_tree_all_finite(g_pad)
  chex.assert_trees_all_close(g_pad, grad(params, x, m, delta),
                              rtol=1e-5, atol=1e-7)
  with pytest.raises(ValueError, match="lengths must be >= 1"):
    model.apply(params, x, m, delta, LENGTHS.at[0].set(0), x_mean)
  with pytest.raises(ValueError, match="delta must have shape"):
    model.apply(params, x, m, delta[:, :2], LENGTHS, x_mean)
  with pytest.raises(ValueError, match="x_mean must have shape"):
    model.apply(params, x, m, delta, LENGTHS, x_mean[:1])
