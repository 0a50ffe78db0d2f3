"""BRITS: the two directions agree after training, its imputations beat
carry-forward and mean imputation on a smooth signal, and padding changes nothing."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gil_jax import data as data_lib
from gil_jax.models import make_model
from gil_jax.models.brits import reverse_within_length


def _smooth_sequences(n, steps, seed, missing=0.5):
  """Three phase-shifted sinusoids sharing a random phase; varied lengths."""
  rng = np.random.default_rng(seed)
  t = np.arange(steps)[None, :, None]
  phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
  full = np.sin(0.5 * t + phase + np.array([0.0, 0.7, 1.4])).astype(np.float32)
  length = rng.integers(steps // 2, steps + 1, n).astype(np.int32)
  valid = (np.arange(steps)[None, :] < length[:, None])[..., None]
  m = ((rng.random(full.shape) > missing) & valid).astype(np.float32)
  x = np.where(m > 0, full, 0.0).astype(np.float32)
  y = (phase[:, 0, 0] > np.pi).astype(np.int32)
  return data_lib.Split(x=x, m=m, y=y, length=length), full, valid


def _train(model, train, steps, seed=0):
  params = model.init(jax.random.key(seed), jax.tree.map(lambda v: v[:4], train))
  tx = optax.adam(1e-2)

  @jax.jit
  def run(params):
    def one(carry, key):
      params, opt = carry
      idx = jax.random.randint(key, (32,), 0, train.x.shape[0])
      batch = jax.tree.map(lambda v: jnp.asarray(v)[idx], train)
      grads = jax.grad(lambda p: model.loss(batch, *model.apply(p, batch)))(params)
      updates, opt = tx.update(grads, opt, params)
      return (optax.apply_updates(params, updates), opt), None
    keys = jax.random.split(jax.random.key(seed + 1), steps)
    return jax.lax.scan(one, (params, tx.init(params)), keys)[0][0]
  return params, run(params)


def test_reverse_within_length_reverses_only_the_valid_steps():
  v = jnp.arange(10.0).reshape(2, 5)[..., None]
  out = reverse_within_length(v, jnp.array([3, 5]))
  np.testing.assert_array_equal(out[..., 0], [[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]])
  np.testing.assert_array_equal(reverse_within_length(out, jnp.array([3, 5])), v)


def test_trained_brits_directions_agree_and_beat_carry_forward_and_mean():
  model = make_model("brits", (16,), 2)
  train, _, _ = _smooth_sequences(256, 12, seed=0)
  test, full, valid = _smooth_sequences(128, 12, seed=1)
  init, params = _train(model, train, steps=400)

  hidden = (test.m == 0) & valid                     # missing entries with a truth
  # Away from the ends, where each direction has a history to impute from.
  steps = np.arange(12)[None, :, None]
  interior = hidden & (steps >= 3) & (steps < test.length[:, None, None] - 3)
  def errors(p):
    _, f = model.apply(p, test)
    gap = np.abs(f.imputations_forward - f.imputations_backward)[interior].mean()
    return float(gap), float(np.mean((np.asarray(f.imputations) - full)[hidden] ** 2))

  gap0, _ = errors(init)
  gap, mse = errors(params)
  carried = data_lib.carry_forward(test).x
  mse_cf = float(np.mean((carried - full)[hidden] ** 2))
  mse_mean = float(np.mean(full[hidden] ** 2))       # the signal's mean is 0
  assert mse < 0.5 * mse_cf and mse_cf < mse_mean, (mse, mse_cf, mse_mean)
  # The directions impute alike: their gap shrank and is small beside the error
  # of carrying the last value forward.
  assert gap < 0.4 * gap0 and gap < 0.25 * np.sqrt(mse_cf), (gap, gap0, mse_cf)


def test_padding_changes_neither_the_loss_nor_the_outputs():
  model = make_model("brits", (8,), 2)
  batch, _, _ = _smooth_sequences(6, 7, seed=2, missing=0.3)
  params = model.init(jax.random.key(0), batch)
  extra = 5
  rng = np.random.default_rng(3)
  pad = lambda v, fill: np.concatenate([v, fill(v.shape[:1] + (extra,) + v.shape[2:])], 1)
  padded = batch._replace(
      x=pad(batch.x, lambda s: np.full(s, np.nan, np.float32)),   # garbage padding
      m=pad(batch.m, lambda s: (rng.random(s) > 0.5).astype(np.float32)))
  # ... and garbage in the padding the original already had.
  valid = np.arange(7)[None, :] < batch.length[:, None]
  batch = batch._replace(x=np.where(valid[..., None], batch.x, 1e3).astype(np.float32))

  apply = jax.jit(model.apply)
  logits, f = apply(params, batch)
  logits_p, f_p = apply(params, padded)
  np.testing.assert_allclose(model.loss(padded, logits_p, f_p),
                             model.loss(batch, logits, f), rtol=1e-5)
  np.testing.assert_allclose(logits_p, logits, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(f_p.imputations[:, :7], f.imputations, rtol=1e-5,
                             atol=1e-6)
  assert np.all(np.asarray(f_p.imputations[:, 7:]) == 0)
