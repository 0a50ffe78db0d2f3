"""Exact credit of the importance (gil_jax.sources.credit): closed forms against autodiff
through the real optimizer update and against finite differences."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gil_jax.config import TrainConfig
from gil_jax.data import prepare_sequences, prepare_tabular
from gil_jax.metrics import cross_entropy
from gil_jax.sources import credit
from gil_jax.training.step import make_trainer
from data_prep.tabular import load_toy_blobs, load_toy_sequences

TINY = TrainConfig(source="plain", hidden=(8, 6), batch_size=12, num_steps=20,
                   eval_every=10)


def _tabular(n=80, d=5, seed=0):
  raw = load_toy_blobs(n, d, shift=1.0, seed=seed, name="t")
  return prepare_tabular(raw, val_fraction=0.2, test_fraction=0.2)


def _sequences():
  raw = load_toy_sequences(num_sequences=60, steps=5, features=3)
  return prepare_sequences(raw, val_fraction=0.2, test_fraction=0.2, split_seed=0)


def _f64(v):
  return v.astype(jnp.float64) if jnp.issubdtype(v.dtype, jnp.floating) else v


@functools.lru_cache(maxsize=None)
def _context(optimizer, model, learning_rate=1e-3, steps=3):
  """A mid-training state's step context in float64 (tight comparisons), and a
  random importance; cached: tests of one setting share its compiled programs."""
  with jax.enable_x64(True):
    if model == "lstm":
      config = dataclasses.replace(TINY, model="lstm", hidden=(4,))
      prep = _sequences()
    else:
      config, prep = TINY, _tabular()
    config = dataclasses.replace(config, optimizer=optimizer,
                                 learning_rate=learning_rate)
    train = jax.tree.map(lambda v: v if v is None or v.dtype.kind != "f"
                         else v.astype(np.float64), prep.train)
    trainer = make_trainer(config, train.x.shape[-1], prep.num_classes)
    state = trainer.init(jax.random.key(0), train)
    step = jax.jit(trainer.step_fn)
    for _ in range(steps):
      state, _ = step(state, train)
    state = jax.tree.map(_f64, state)
    ctx = jax.jit(trainer.context)(state, train)
    a = jax.random.uniform(jax.random.key(1), ctx.batch.x.shape, jnp.float64,
                           0.2, 1.0)
    return trainer, ctx, a


@pytest.fixture(autouse=True)
def _float64():
  with jax.enable_x64(True):
    yield


@pytest.mark.parametrize("optimizer, model", [("adam", "mlp"), ("sgd", "lstm")])
def test_own_loss_sensitivity_equals_autodiff_through_the_real_update(optimizer, model):
  trainer, ctx, a = _context(optimizer, model)
  closed = jax.jit(lambda c, a_: credit.own_loss_sensitivity(
      trainer.predictor, c, a_))(ctx, a)
  reference = jax.jit(lambda c, a_: credit.own_loss_sensitivity_autodiff(
      trainer.predictor, c, a_))(ctx, a)
  assert float(jnp.abs(reference).max()) > 0
  np.testing.assert_allclose(closed, reference, rtol=1e-8,
                             atol=1e-9 * float(jnp.abs(reference).max()))


def test_own_loss_sensitivity_equals_a_finite_difference_of_the_reward():
  trainer, ctx, a = _context("adam", "mlp")
  sens = jax.jit(lambda c, a_: credit.own_loss_sensitivity(
      trainer.predictor, c, a_))(ctx, a)

  @jax.jit
  def rewards(a_, c):
    # The reward through the training step's own update (not the differentiable
    # look-ahead the closed form uses).
    params, _ = trainer.predictor.update(c, a_)
    logits, _ = trainer.predictor.apply(params, c.batch)
    return -cross_entropy(logits, c.batch.y)

  eps = 1e-6
  for b, j in [(0, 0), (3, 2), (7, 4)]:
    if ctx.batch.m[b, j] == 0:   # placeholder 0: no effect at all
      assert sens[b, j] == 0
      continue
    up, down = a.at[b, j].add(eps), a.at[b, j].add(-eps)
    fd = (float(rewards(up, ctx)[b]) - float(rewards(down, ctx)[b])) / (2 * eps)
    np.testing.assert_allclose(float(sens[b, j]), fd, rtol=1e-5, atol=1e-12)


def test_more_weight_lowers_a_samples_own_loss_under_sgd():
  # The reason GIL's policy cannot learn: with SGD the own-loss effect of every
  # observed entry's importance is >= 0, so a = 1 is the greedy optimum.
  trainer, ctx, a = _context("sgd", "mlp")
  sens = jax.jit(lambda c, a_: credit.own_loss_sensitivity(
      trainer.predictor, c, a_))(ctx, a)
  observed = np.asarray(ctx.batch.m) > 0
  assert (np.asarray(sens)[observed] > 0).all()
  assert (np.asarray(sens)[~observed] == 0).all()


@pytest.mark.parametrize("optimizer, model", [("sgd", "mlp"), ("adam", "lstm")])
def test_heldout_credit_equals_grad_of_the_heldout_loss_after_the_update(optimizer,
                                                                          model):
  trainer, ctx, a = _context(optimizer, model)
  rows = credit.draw_heldout_rows(jax.random.key(2), ctx.train, ctx.batch_idx, 16)
  closed = jax.jit(lambda c, a_: credit.heldout_credit(
      trainer.predictor, c, a_, rows))(ctx, a)

  def heldout_after(a_, c):
    params, _ = trainer.predictor.lookahead(c, a_)
    return credit.heldout_loss(trainer.predictor, params, c.train, rows)

  reference = -jax.jit(jax.grad(heldout_after))(a, ctx)
  assert float(jnp.abs(reference).max()) > 0
  np.testing.assert_allclose(closed, reference, rtol=1e-8,
                             atol=1e-9 * float(jnp.abs(reference).max()))
  if optimizer == "sgd":
    # The closed form: u_bj = eta x_bj (delta_b . G_j), G the held-out
    # kernel gradient at theta'.
    eta = float(np.float32(1e-3))   # held as a float32 hyper-parameter
    params_after, _ = trainer.predictor.lookahead(ctx, a)
    g = credit.heldout_kernel_gradient(trainer.predictor, params_after, ctx.train,
                                       rows)
    np.testing.assert_allclose(closed, eta * ctx.x_enc * (ctx.delta @ g.T),
                               rtol=1e-9, atol=1e-15)


def test_heldout_rows_are_training_rows_outside_the_batch():
  prep = _tabular(n=200)
  batch_idx = jnp.arange(0, 40)
  rows = credit.draw_heldout_rows(jax.random.key(0), prep.train, batch_idx, 500)
  idx, w = np.asarray(rows.idx), np.asarray(rows.weight)
  assert idx.max() < len(prep.train.y)
  assert (w[np.isin(idx, np.arange(40))] == 0).all()
  assert (w[~np.isin(idx, np.arange(40))] > 0).all()
  np.testing.assert_allclose(w.sum(), 1.0)


def test_agreement_of_an_estimate_with_the_exact_effect():
  exact = jnp.array([[1.0, -2.0, 0.0], [0.5, 1.0, 3.0]])
  where = jnp.array([[1, 1, 1], [1, 1, 0]], bool)
  same = credit.agreement(3 * exact, exact, where)
  np.testing.assert_allclose(same["sign_agreement"], 1.0)
  np.testing.assert_allclose(same["cosine"], 1.0, rtol=1e-6)
  np.testing.assert_allclose(same["magnitude_ratio"], 3.0, rtol=1e-6)
  flipped = credit.agreement(-exact, exact, where)
  np.testing.assert_allclose(flipped["sign_agreement"], 0.0)
  np.testing.assert_allclose(flipped["cosine"], -1.0, rtol=1e-6)


def test_action_statistics_saturation_spread_and_mask_correlation():
  m = jnp.array([[1, 0], [0, 1], [1, 1], [0, 0]], jnp.float32)
  stats = credit.action_statistics(m, m)                 # a = m: saturated, corr 1
  np.testing.assert_allclose(stats["saturation"], 1.0)
  np.testing.assert_allclose(stats["corr_with_mask"], 1.0, rtol=1e-6)
  np.testing.assert_allclose(stats["spread"], 0.5, rtol=1e-6)
  flat = credit.action_statistics(jnp.full((4, 2), 0.5), m)
  np.testing.assert_allclose(flat["saturation"], 0.0)
  np.testing.assert_allclose(flat["spread"], 0.0, atol=1e-7)
