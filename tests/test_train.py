"""End-to-end training: every method runs, learns, selects on validation, reproduces."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gil_jax import policy
from gil_jax.data import RawTabular, prepare_tabular
from gil_jax.missingness import apply_mask, mcar_mask
from gil_jax.metrics import cross_entropy
from gil_jax.train import METHODS, TrainConfig, fit, make_optimizer, make_trainer

TINY = TrainConfig(hidden=(16, 16), batch_size=32, num_steps=120, eval_every=20,
                   learning_rate=3e-3, replay_capacity=512, rl_batch_size=32,
                   actor_hidden=(32, 32), critic_hidden=(32, 32))


def _blobs(missing_rate=0.3, n=400, d=6, seed=0, placeholder=0.0):
  rng = np.random.default_rng(seed)
  y = (np.arange(n) % 2).astype(np.int32)
  x = rng.normal(0, 1, (n, d)) + 1.5 * y[:, None]
  x = apply_mask(x.astype(np.float32), mcar_mask(x.shape, missing_rate, seed))
  raw = RawTabular(x=x, y=y, num_classes=2,
                   feature_names=tuple(f"f{i}" for i in range(d)), name="blobs")
  return prepare_tabular(raw, val_fraction=0.2, test_fraction=0.2,
                         placeholder=placeholder)


@pytest.mark.parametrize("method", METHODS)
def test_each_method_trains_end_to_end_and_beats_chance(method):
  prep = _blobs()
  result = fit(dataclasses.replace(TINY, method=method), prep, seed=0)
  assert set(result.test) == {"accuracy", "auroc", "auprc"}
  assert result.test["accuracy"] > 0.75 and result.test["auroc"] > 0.85
  assert np.isfinite(result.history["loss"]).all()
  assert result.history["loss"][-1] < result.history["loss"][0]
  if method == "gil":
    assert np.isfinite(result.history["critic_loss"]).all()
    assert 0.0 <= result.history["importance"].min() <= 1.0


def test_same_seed_gives_identical_numbers_and_other_seed_differs():
  prep = _blobs()
  cfg = dataclasses.replace(TINY, method="gil")
  a, b, c = fit(cfg, prep, seed=3), fit(cfg, prep, seed=3), fit(cfg, prep, seed=4)
  assert a.test == b.test and a.best_step == b.best_step
  for k in a.history:
    np.testing.assert_array_equal(a.history[k], b.history[k])
  jax.tree.map(np.testing.assert_array_equal, a.params, b.params)
  assert not np.array_equal(a.history["loss"], c.history["loss"])


def test_training_stays_finite_at_95_percent_missingness():
  prep = _blobs(missing_rate=0.95)
  assert prep.summary["all_missing_rows"]["train"] > 0
  for method in ("gil", "gil_h"):
    r = fit(dataclasses.replace(TINY, method=method), prep, seed=0)
    assert np.isfinite(r.history["loss"]).all()
    assert all(np.isfinite(v) for v in r.test.values())


def test_returned_parameters_are_the_best_on_validation():
  prep = _blobs()
  cfg = dataclasses.replace(TINY, method="zero", selection_metric="neg_loss",
                            num_steps=200, learning_rate=3e-2)
  r = fit(cfg, prep, seed=0)
  scores = r.history["val_score"]
  best = int(np.argmax(scores))
  assert r.best_step == int(r.history["step"][best])
  trainer = make_trainer(cfg, prep.train.x.shape[1], 2)
  val = jax.tree.map(jnp.asarray, prep.val)
  probs = np.asarray(trainer.predict(r.params, val))
  nll = -np.mean(np.log(probs[np.arange(len(prep.val.y)), prep.val.y]))
  np.testing.assert_allclose(-nll, scores[best], rtol=1e-4)


@pytest.mark.parametrize("method", ["zero", "gil"])
def test_test_trace_is_the_test_score_per_eval_and_never_changes_selection(method):
  prep = _blobs()
  cfg = dataclasses.replace(TINY, method=method, selection_metric="neg_loss")
  plain = fit(cfg, prep, seed=1)
  traced = fit(dataclasses.replace(cfg, track_test=True), prep, seed=1)
  assert "test_score" not in plain.history
  # Selection, parameters and validation numbers are those of the untraced run.
  assert traced.best_step == plain.best_step and traced.val == plain.val
  for k in plain.history:
    np.testing.assert_array_equal(traced.history[k], plain.history[k])
  # The trace at the selected step is the selected parameters' test score.
  i = int(np.flatnonzero(traced.history["step"] == traced.best_step)[0])
  trainer = make_trainer(cfg, prep.train.x.shape[1], 2)
  probs = np.asarray(trainer.predict(traced.params, jax.tree.map(jnp.asarray,
                                                                 prep.test)))
  nll = -np.mean(np.log(probs[np.arange(len(prep.test.y)), prep.test.y]))
  np.testing.assert_allclose(traced.history["test_score"][i], -nll, rtol=1e-4)
  # ... and it varies over training (a real trace, not a constant).
  assert np.ptp(traced.history["test_score"]) > 0


def test_gil_h_equals_zero_imputation_only_when_the_placeholder_is_zero():
  # SPEC 1: with placeholder 0, x * m == x, so GIL-H has zero imputation's gradient.
  for placeholder, same in ((0.0, True), (2.0, False)):
    prep = _blobs(placeholder=placeholder)
    h = fit(dataclasses.replace(TINY, method="gil_h"), prep, seed=0)
    z = fit(dataclasses.replace(TINY, method="zero"), prep, seed=0)
    gap = np.abs(h.history["loss"] - z.history["loss"]).max()
    # Equal up to float reassociation (the two paths order the matmul differently).
    assert (gap < 1e-6) == same, gap


def test_gil_policy_explores_then_uses_the_actor():
  prep = _blobs()
  cfg = dataclasses.replace(
      TINY, method="gil", num_steps=200,
      exploration=policy.Exploration(p2=0.5, p3=0.4, decay=0.97, p2_floor=0.0,
                                     p3_floor=0.0))
  r = fit(cfg, prep, seed=0)
  share = r.history["actor_share"]
  assert share[0] < 0.5 and share[-1] > 0.95


@pytest.mark.parametrize("field,value,match", [
    ("method", "impute", "unknown method"),
    ("num_steps", 110, "multiple of eval_every"),
    ("optimizer", "rmsprop", "optimizer"),
    ("selection_metric", "f1", "selection metric"),
    ("batch_size", 0, "batch_size"),
    ("exploration", policy.Exploration(p2=0.1, p2_floor=0.3), "floors"),
    ("exploration", policy.Exploration(p2=0.7, p3=0.4), "p2 \\+ p3"),
])
def test_bad_train_config_is_rejected(field, value, match):
  with pytest.raises(ValueError, match=match):
    dataclasses.replace(TINY, **{field: value})


def test_gil_step_updates_the_predictor_with_the_behaviour_importance():
  # With p2 = 1 the behaviour policy always picks a = m: one GIL step must then move
  # the predictor exactly as one SGD step on the importance-weighted gradient does.
  # (SGD, not Adam: Adam's first step is lr * sign(g), which turns float noise in a
  # near-zero gradient into a full-size difference.)
  prep = _blobs(placeholder=1.5)
  cfg = dataclasses.replace(
      TINY, method="gil", num_steps=1, eval_every=1, optimizer="sgd",
      learning_rate=0.5,
      exploration=policy.Exploration(p2=1.0, p3=0.0, decay=1.0, p3_floor=0.0))
  trainer = make_trainer(cfg, prep.train.x.shape[1], 2)
  train = jax.tree.map(jnp.asarray, prep.train)
  val = jax.tree.map(jnp.asarray, prep.val)
  state = trainer.init(jax.random.key(0), train)
  params0 = jax.tree.map(jnp.copy, state.params)
  idx = np.asarray(state.batch_idx)
  x, m, y = train.x[idx], train.m[idx], train.y[idx]
  state, _ = trainer.run(state, train, val, num_evals=1)

  def loss(p):
    logits, _ = trainer.model.apply(p, x, m)
    return jnp.mean(cross_entropy(logits, y))
  tx = make_optimizer(cfg)
  updates, _ = tx.update(jax.grad(loss)(params0), tx.init(params0), params0)
  expected = optax.apply_updates(params0, updates)
  chex.assert_trees_all_close(state.params, expected, rtol=1e-5, atol=1e-6)
