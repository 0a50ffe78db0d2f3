"""The importance-source seam and the methods behind it (controls, held-out credit)."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gil_jax import credit, l2rw, sources
from gil_jax.data import prepare_tabular
from data_prep.tabular import load_toy_blobs
from gil_jax.sources import ImportanceSource
from gil_jax.train import TrainConfig, fit, fit_many, make_trainer

TINY = TrainConfig(hidden=(16, 16), batch_size=32, num_steps=40, eval_every=20,
                   learning_rate=3e-3, replay_capacity=256, rl_batch_size=32,
                   actor_hidden=(16, 16), critic_hidden=(16, 16), meta_batch_size=32,
                   meta_hidden=(12,))


def _blobs(n=300, d=6, seed=0):
  raw = load_toy_blobs(n, d, shift=1.5, seed=seed)
  return prepare_tabular(raw, val_fraction=0.2, test_fraction=0.2)


@functools.lru_cache(maxsize=None)
def _learned_gil(diagnostics=False):
  """GIL on the blobs, seed 0 (shared by the tests that compare against it)."""
  return fit(dataclasses.replace(TINY, method="gil", diagnostics=diagnostics),
             _blobs(), seed=0)


def half_mask_factory(config, predictor):
  """A method defined outside the library: a = m / 2, chosen before the forward."""
  del config, predictor

  def propose(state, keys, ctx):
    return 0.5 * ctx.batch.m, state + 1, {"calls": state.astype(jnp.float32)}

  return ImportanceSource(init=lambda key, ctx: jnp.zeros((), jnp.int32),
                          propose=propose,
                          observe=lambda state, keys, ctx, a, params: (state, {}))


def test_a_new_method_is_a_source_and_the_training_loop_needs_no_change(monkeypatch):
  monkeypatch.setitem(sources.SOURCES, "half_mask", (__name__, "half_mask_factory"))
  prep = _blobs()
  result = fit(dataclasses.replace(TINY, method="half_mask"), prep, seed=0)
  # The source's state advanced once per step, and its metrics reached the history.
  np.testing.assert_allclose(result.history["calls"], [9.5, 29.5])
  # Under Adam a constant factor on GIL-H's importance cancels (up to eps): the
  # run follows GIL-H's.
  gil_h = fit(dataclasses.replace(TINY, method="gil_h"), prep, seed=0)
  np.testing.assert_allclose(result.history["loss"], gil_h.history["loss"], rtol=1e-3)


def test_unknown_method_is_refused_with_the_known_ones():
  with pytest.raises(ValueError, match="unknown method 'gil2'.*gil_meta"):
    TrainConfig(method="gil2")


@pytest.mark.parametrize("method", ["gil_random", "gil_frozen"])
def test_policy_controls_keep_the_actor_at_its_initialisation(method):
  prep = _blobs()
  cfg = dataclasses.replace(TINY, method=method)
  trainer = make_trainer(cfg, prep.train.x.shape[-1], 2)
  init = trainer.init(jax.random.key(0), prep.train)
  result = fit(cfg, prep, seed=0)
  jax.tree.map(np.testing.assert_array_equal, result.actor_params,
               jax.device_get(init.source.ddpg.actor))
  if method == "gil_random":      # the actor's share went to random actions
    assert (result.history["actor_share"] == 0).all()
  else:                           # the frozen actor is still asked
    assert result.history["actor_share"].max() > 0
  learned = _learned_gil()
  assert not np.array_equal(jax.tree.leaves(learned.actor_params)[0],
                            jax.tree.leaves(result.actor_params)[0])


def test_gil_const_interpolates_between_gil_h_and_plain_training():
  raw = load_toy_blobs(300, 6, shift=1.5, seed=0)
  prep = prepare_tabular(raw, val_fraction=0.2, test_fraction=0.2,
                         scaling="max", placeholder="mean")
  assert (prep.train.x[prep.train.m == 0] != 0).any()   # filled entries carry a value

  def run(method, **kw):
    return fit(dataclasses.replace(TINY, method=method, **kw), prep, seed=0).history["loss"]

  const = {c: run("gil_const", missing_importance=c) for c in (0.0, 0.5, 1.0)}
  np.testing.assert_array_equal(const[0.0], run("gil_h"))          # c = 0 is GIL-H
  np.testing.assert_allclose(const[1.0], run("mean"), rtol=1e-6)  # c = 1: plain
  # c = 0.5 follows neither (the runs are deterministic: any gap is c's effect).
  assert np.abs(const[0.5] - const[0.0]).max() > 1e-5
  assert np.abs(const[0.5] - const[1.0]).max() > 1e-5
  with pytest.raises(ValueError, match="missing_importance"):
    TrainConfig(method="gil_const", missing_importance=1.5)


@pytest.mark.parametrize("method", ["gil_heldout", "gil_l2rw", "gil_meta"])
def test_heldout_methods_refuse_data_with_no_row_outside_the_batch(method):
  prep = _blobs(n=50)     # 30 training rows for batches of 32
  with pytest.raises(ValueError, match="no row is ever held out"):
    fit(dataclasses.replace(TINY, method=method), prep, seed=0)
  with pytest.raises(ValueError, match="meta_batch_size must be >= 1"):
    TrainConfig(method=method, meta_batch_size=0)


def test_heldout_rows_come_from_the_training_split_only(monkeypatch):
  # Which split a source draws its held-out rows from is fixed when the step is
  # traced: tracing (no compilation) is enough to see it.
  prep = _blobs()
  seen = []
  original = credit.heldout_rows

  def spy(key, train, batch_idx, n):
    seen.append(train.x.shape)
    return original(key, train, batch_idx, n)

  monkeypatch.setattr(credit, "heldout_rows", spy)
  for method in ("gil_l2rw", "gil_meta", "gil_heldout"):
    trainer = make_trainer(dataclasses.replace(TINY, method=method),
                           prep.train.x.shape[-1], 2)
    state = jax.eval_shape(trainer.init_fn, jax.random.key(0), prep.train)
    before = len(seen)
    jax.eval_shape(trainer.step_fn, state, prep.train)
    assert len(seen) > before, method
  assert set(seen) == {prep.train.x.shape}
  assert prep.train.x.shape[0] not in (prep.val.x.shape[0], prep.test.x.shape[0])


def test_credit_weights_clip_normalise_and_fall_back_to_the_mask():
  c = jnp.array([[2.0, -1.0, 1.0], [-3.0, -1.0, 0.0]])
  m = jnp.array([[1, 1, 0], [1, 0, 1]], jnp.float32)
  w = l2rw.credit_weights(c, m)
  np.testing.assert_allclose(w, [[1.0, 0.0, 0.5], [1.0, 0.0, 1.0]])


def test_gil_meta_step_lowers_the_lookahead_heldout_loss():
  prep = _blobs()
  cfg = dataclasses.replace(TINY, method="gil_meta", optimizer="sgd",
                            learning_rate=0.5, actor_lr=1e-2)
  trainer = make_trainer(cfg, prep.train.x.shape[-1], 2)
  state = trainer.init(jax.random.key(0), prep.train)
  ctx = jax.jit(trainer.context, static_argnums=2)(state, prep.train, True)
  keys = sources.split_keys(jax.random.key(1), trainer.source.key_names)
  rows = credit.heldout_rows(keys["meta"], prep.train, ctx.batch_idx,
                             cfg.meta_batch_size)
  s, _ = trainer.predictor.observe(ctx.batch, ctx.logits, ctx.features)

  def lookahead_loss(a):
    params, _ = trainer.predictor.update(ctx, a)
    return credit.heldout_loss(trainer.predictor, params, prep.train, rows)

  from gil_jax.models import Actor
  # The importance network has gil_meta's own widths, not the actor's.
  d = prep.train.x.shape[-1]
  kernels = [k.shape for k in jax.tree.leaves(state.source.params) if k.ndim == 2]
  assert [k[1] for k in kernels] == [12, d]
  net = Actor(action_dim=d, hidden=cfg.meta_hidden)
  lookahead_loss = jax.jit(lookahead_loss)
  before = lookahead_loss(net.apply(state.source.params, s))
  a_new, meta_state, metrics = jax.jit(trainer.source.propose)(state.source, keys,
                                                               ctx)
  assert float(lookahead_loss(a_new)) < float(before)
  np.testing.assert_allclose(metrics["meta_loss"], before, rtol=1e-6)
  assert not np.array_equal(jax.tree.leaves(meta_state.params)[0],
                            jax.tree.leaves(state.source.params)[0])


def test_diagnostics_are_recorded_and_never_change_training():
  plain, diag = _learned_gil(), _learned_gil(diagnostics=True)
  for k, v in plain.history.items():
    np.testing.assert_array_equal(v, diag.history[k])
  jax.tree.map(np.testing.assert_array_equal, plain.params, diag.params)
  extra = set(diag.history) - set(plain.history)
  assert {"diag_critic_sign_agreement", "diag_own_effect_positive",
          "diag_action_saturation"} <= extra
  assert np.isfinite(np.stack([diag.history[k] for k in extra])).all()
  # With placeholder 0 every observed entry's own-loss effect is positive here.
  assert diag.history["diag_own_effect_positive"].min() > 0.9


def test_credit_methods_vmap_over_seeds_like_single_runs():
  prep = _blobs()
  cfg = dataclasses.replace(TINY, method="gil_l2rw", num_steps=20)
  together = fit_many(cfg, prep, [0, 1])
  alone = fit(cfg, prep, seed=1)
  np.testing.assert_allclose(together[1].history["loss"], alone.history["loss"],
                             rtol=1e-5)
