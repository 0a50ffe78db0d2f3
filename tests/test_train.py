"""End-to-end training: every method runs, learns, selects on validation, reproduces."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gil_jax import methods
from gil_jax.config import TrainConfig, from_options
from gil_jax.data import RawTabular, prepare_tabular
from gil_jax.data.missingness import apply_mask, mcar_mask
from gil_jax.metrics import cross_entropy
from gil_jax.predictor import make_optimizer
from gil_jax.sources import source_names
from gil_jax.sources.policy import exploration as policy
from gil_jax.training.fit import fit
from gil_jax.training.step import make_trainer

# Options of the tiny runs, for every source (gil_jax.config.from_options ignores
# the options of sources other than the one it builds).
TINY_OPTIONS = dict(hidden=(16, 16), batch_size=32, num_steps=120, eval_every=20,
                    learning_rate=3e-3, replay_capacity=512, rl_batch_size=32,
                    actor_hidden=(32, 32), critic_hidden=(32, 32))


def tiny(source: str = "gil", **overrides) -> TrainConfig:
  """The tiny config of ``source``, with ``overrides`` (flat option names)."""
  return from_options(source, {**TINY_OPTIONS, **overrides})


def _blobs(missing_rate=0.3, n=400, d=6, seed=0, placeholder=0.0):
  rng = np.random.default_rng(seed)
  y = (np.arange(n) % 2).astype(np.int32)
  x = rng.normal(0, 1, (n, d)) + 1.5 * y[:, None]
  x = apply_mask(x.astype(np.float32), mcar_mask(x.shape, missing_rate, seed))
  raw = RawTabular(x=x, y=y, num_classes=2,
                   feature_names=tuple(f"f{i}" for i in range(d)), name="blobs")
  return prepare_tabular(raw, val_fraction=0.2, test_fraction=0.2,
                         placeholder=placeholder)


# Every library source on placeholder-0 inputs, and the plain gradient on
# mean-imputed inputs (the launcher's "mean": a data transform, then "plain").
CASES = [(source, ()) for source in source_names()] + [("plain", ("mean",))]


@pytest.mark.parametrize("source,transforms", CASES,
                         ids=[s + "".join(f"+{t}" for t in ts) for s, ts in CASES])
def test_each_source_trains_end_to_end_and_beats_chance(source, transforms):
  prep = methods.transform(_blobs(), transforms)
  result = fit(tiny(source), prep, seed=0)
  assert set(result.test) == {"accuracy", "auroc", "auprc"}
  assert result.test["accuracy"] > 0.75 and result.test["auroc"] > 0.85
  assert np.isfinite(result.history["loss"]).all()
  assert result.history["loss"][-1] < result.history["loss"][0]
  if source == "gil":
    assert np.isfinite(result.history["critic_loss"]).all()
    assert 0.0 <= result.history["importance"].min() <= 1.0


def test_same_seed_gives_identical_numbers_and_other_seed_differs():
  prep = _blobs()
  cfg = tiny("gil")
  a, b, c = fit(cfg, prep, seed=3), fit(cfg, prep, seed=3), fit(cfg, prep, seed=4)
  assert a.test == b.test and a.best_step == b.best_step
  for k in a.history:
    np.testing.assert_array_equal(a.history[k], b.history[k])
  jax.tree.map(np.testing.assert_array_equal, a.params, b.params)
  assert not np.array_equal(a.history["loss"], c.history["loss"])


def test_training_stays_finite_at_95_percent_missingness():
  prep = _blobs(missing_rate=0.95)
  assert prep.summary["all_missing_rows"]["train"] > 0
  for source in ("gil", "mask"):
    r = fit(tiny(source), prep, seed=0)
    assert np.isfinite(r.history["loss"]).all()
    assert all(np.isfinite(v) for v in r.test.values())


def test_returned_parameters_are_the_best_on_validation():
  prep = _blobs()
  cfg = tiny("plain", selection_metric="neg_loss", num_steps=200,
             learning_rate=3e-2)
  r = fit(cfg, prep, seed=0)
  scores = r.history["val_score"]
  best = int(np.argmax(scores))
  assert r.best_step == int(r.history["step"][best])
  trainer = make_trainer(cfg, prep.train.x.shape[1], 2)
  val = jax.tree.map(jnp.asarray, prep.val)
  probs = np.asarray(trainer.predict(r.params, val))
  nll = -np.mean(np.log(probs[np.arange(len(prep.val.y)), prep.val.y]))
  np.testing.assert_allclose(-nll, scores[best], rtol=1e-4)


@pytest.mark.parametrize("source", ["plain", "gil"])
def test_test_trace_is_the_test_score_per_eval_and_never_changes_selection(source):
  prep = _blobs()
  cfg = tiny(source, selection_metric="neg_loss")
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
  # With placeholder 0, x * m == x, so GIL-H has zero imputation's gradient.
  for placeholder, same in ((0.0, True), (2.0, False)):
    prep = _blobs(placeholder=placeholder)
    h = fit(tiny("mask"), prep, seed=0)
    z = fit(tiny("plain"), prep, seed=0)
    gap = np.abs(h.history["loss"] - z.history["loss"]).max()
    # Equal up to float reassociation (the two paths order the matmul differently).
    assert (gap < 1e-6) == same, gap


def test_gil_policy_explores_then_uses_the_actor():
  prep = _blobs()
  cfg = tiny(
      "gil", num_steps=200,
      exploration=policy.Exploration(p2=0.5, p3=0.4, decay=0.97, p2_floor=0.0,
                                     p3_floor=0.0))
  r = fit(cfg, prep, seed=0)
  share = r.history["actor_share"]
  assert share[0] < 0.5 and share[-1] > 0.95


@pytest.mark.parametrize("field,value,match", [
    ("source", "impute", "unknown importance source"),
    ("num_steps", 110, "multiple of eval_every"),
    ("optimizer", "rmsprop", "optimizer"),
    ("selection_metric", "f1", "selection metric"),
    ("batch_size", 0, "batch_size"),
    ("exploration", policy.Exploration(p2=0.1, p2_floor=0.3), "floors"),
    ("exploration", policy.Exploration(p2=0.7, p3=0.4), "p2 \\+ p3"),
])
def test_bad_train_config_is_rejected(field, value, match):
  # Schedule checks come from TrainConfig, exploration checks from the policy's
  # PolicyConfig; both when the config is built from flat options.
  with pytest.raises(ValueError, match=match):
    tiny(**{field: value})


def test_gil_step_updates_the_predictor_with_the_behaviour_importance():
  # With p2 = 1 the behaviour policy always picks a = m: one GIL step must then move
  # the predictor exactly as one SGD step on the importance-weighted gradient does.
  # (SGD, not Adam: Adam's first step is lr * sign(g), which turns float noise in a
  # near-zero gradient into a full-size difference.)
  prep = _blobs(placeholder=1.5)
  cfg = tiny(
      "gil", num_steps=1, eval_every=1, optimizer="sgd", learning_rate=0.5,
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
    logits, _ = trainer.predictor.model.module.apply(p, x, m)
    return jnp.mean(cross_entropy(logits, y))
  tx = make_optimizer(cfg)
  updates, _ = tx.update(jax.grad(loss)(params0), tx.init(params0), params0)
  expected = optax.apply_updates(params0, updates)
  chex.assert_trees_all_close(state.params, expected, rtol=1e-5, atol=1e-6)


def _mid_training_context(optimizer, steps=3):
  """A plain run's trainer and the step context of its batch after ``steps``
  steps (so that Adam's moments are not at their first-step values)."""
  prep = _blobs()
  cfg = tiny("plain", optimizer=optimizer, learning_rate=0.05)
  trainer = make_trainer(cfg, prep.train.x.shape[1], 2)
  train = jax.tree.map(jnp.asarray, prep.train)
  state = trainer.init(jax.random.key(0), train)
  step = jax.jit(trainer.step_fn)
  for _ in range(steps):
    state, _ = step(state, train)
  return cfg, trainer, jax.jit(trainer.context)(state, train)


def _per_example_grads(predictor, params, batch):
  """Each sample's own gradient of its cross-entropy (plain, unaveraged)."""
  def one(row):
    single = jax.tree.map(lambda v: v[None], row)
    return jax.grad(lambda p: cross_entropy(predictor.apply(p, single)[0],
                                            single.y)[0])(params)
  return jax.vmap(one)(batch)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_update_with_no_importance_is_the_update_with_importance_one(optimizer):
  # The plain gradient (a = None, autodiff's gradient) and eq. (4)'s rule with
  # a = 1 are the same step: one update path for every source.
  _, trainer, ctx = _mid_training_context(optimizer)
  update = jax.jit(trainer.predictor.update)
  plain = update(ctx, None)
  ones = update(ctx, jnp.ones_like(ctx.batch.x))
  chex.assert_trees_all_close(plain, ones, rtol=1e-5, atol=1e-7)
  # ... and the step moved the parameters.
  assert not np.allclose(plain[0]["params"]["encoder"]["kernel"],
                         ctx.params["params"]["encoder"]["kernel"])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_update_with_importance_is_an_optimizer_step_on_the_per_example_definition(
    optimizer):
  # Eq. (4): the encoder kernel's gradient is mean_b a_b[:, None] * grad_b (grad_b
  # the sample's own kernel gradient, x_b^T delta_b); every other leaf keeps the
  # plain gradient.  The update must be the optimizer's step on exactly that.
  cfg, trainer, ctx = _mid_training_context(optimizer)
  predictor = trainer.predictor
  a = jax.random.uniform(jax.random.key(7), ctx.batch.x.shape)
  got_params, got_opt_state = jax.jit(predictor.update)(ctx, a)

  per_example = _per_example_grads(predictor, ctx.params, ctx.batch)
  grads = jax.tree.map(lambda g: g.mean(0), per_example)
  kernel = per_example["params"]["encoder"]["kernel"]               # [B, d, e]
  grads["params"]["encoder"]["kernel"] = jnp.mean(kernel * a[:, :, None], axis=0)
  tx = make_optimizer(cfg, ctx.hparams.learning_rate)
  updates, inner_state = tx.update(grads, ctx.opt_state[1], ctx.params)
  expected = optax.apply_updates(ctx.params, updates)
  chex.assert_trees_all_close(got_params, expected, rtol=1e-5, atol=1e-6)
  chex.assert_trees_all_close(got_opt_state[1], inner_state, rtol=1e-5, atol=1e-7)
  # The importance mattered: the kernel's step differs from the plain one.
  plain, _ = jax.jit(predictor.update)(ctx, None)
  assert not np.allclose(plain["params"]["encoder"]["kernel"],
                         got_params["params"]["encoder"]["kernel"], atol=1e-6)
