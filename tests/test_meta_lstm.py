"""``gil_meta`` on an LSTM: the meta-gradient reaches the importance network through
the input kernel's look-ahead update, and its diagnostics say how far the importance
moves (gil_jax/sources/meta.py)."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from data_prep.tabular import load_toy_sequences
from gil_jax.config import from_options
from gil_jax.data import prepare_sequences
from gil_jax.sources import credit
from gil_jax.sources.meta import meta_diagnostics
from gil_jax.sources.policy.networks import Actor
from gil_jax.training.fit import fit
from gil_jax.training.step import make_trainer

OPTIONS = {"model": "lstm", "hidden": (4,), "batch_size": 12, "num_steps": 30,
           "eval_every": 10, "meta_batch_size": 16, "meta_hidden": (6,),
           "meta_lr": 1e-2}


def _sequences():
  """Toy sequences of lengths 2..6 (padding holds NaN: it must reach nothing)."""
  raw = load_toy_sequences(num_sequences=60, steps=6, features=3)
  length = (np.arange(60) % 5 + 2).astype(np.int32)
  x = np.where(np.arange(6)[None, :, None] < length[:, None, None], raw.x, np.nan)
  return prepare_sequences(raw._replace(x=x.astype(np.float32), length=length),
                           val_fraction=0.2, test_fraction=0.2, split_seed=0)


def _f64(v):
  return v.astype(jnp.float64) if jnp.issubdtype(v.dtype, jnp.floating) else v


@functools.cache
def _mid_training():
  """gil_meta's trainer, a state after 3 steps and its step context, in float64."""
  with jax.enable_x64(True):
    config = from_options("gil_meta", OPTIONS)
    train = jax.tree.map(lambda v: v if v is None or v.dtype.kind != "f"
                         else v.astype(np.float64), _sequences().train)
    trainer = make_trainer(config, train.x.shape[-1], 2)
    state = trainer.init(jax.random.key(0), train)
    step = jax.jit(trainer.step_fn)
    for _ in range(3):
      state, _ = step(state, train)
    state = jax.tree.map(_f64, state)
    return config, trainer, state, jax.jit(trainer.context)(state, train)


@pytest.fixture(autouse=True)
def _float64():
  with jax.enable_x64(True):
    yield


def test_meta_gradient_through_the_lstm_equals_finite_differences_and_drives_the_source():
  config, trainer, state, ctx = _mid_training()
  predictor = trainer.predictor
  net = Actor(action_dim=ctx.batch.x.shape[-1], hidden=config.source_config.meta_hidden)
  s, _ = predictor.observe(ctx.batch, ctx.logits, ctx.features)
  key = jax.random.key(5)
  rows = credit.draw_heldout_rows(key, ctx.train, ctx.batch_idx,
                                  config.source_config.meta_batch_size)

  @jax.jit
  def meta_loss(psi):
    params_after, _ = predictor.lookahead(ctx, net.apply(psi, s))
    return credit.heldout_loss(predictor, params_after, ctx.train, rows)

  psi = state.source.params
  grad = jax.jit(jax.grad(meta_loss))(psi)
  leaves, tree = jax.tree.flatten(psi)
  direction = jax.tree.unflatten(tree, [
      jax.random.normal(k, v.shape, v.dtype)
      for k, v in zip(jax.random.split(jax.random.key(7), len(leaves)), leaves)])
  eps = 1e-5

  def shifted(sign):
    return jax.tree.map(lambda p, d: p + sign * eps * d, psi, direction)

  finite = (meta_loss(shifted(1)) - meta_loss(shifted(-1))) / (2 * eps)
  along = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grad),
                                             jax.tree.leaves(direction)))
  assert abs(float(along)) > 1e-6
  np.testing.assert_allclose(float(along), float(finite), rtol=1e-6)
  # Every layer of the importance network gets a gradient, and the source's own
  # meta step (what its diagnostics record) is this gradient.
  assert all(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grad))
  diag = jax.jit(trainer.source.diagnose)(state.source, key, ctx)
  np.testing.assert_allclose(diag["meta_grad_norm"], optax.tree.norm(grad),
                             rtol=1e-9)


def test_only_the_importances_variation_moves_the_update():
  _, trainer, state, ctx = _mid_training()
  zero = jax.tree.map(jnp.zeros_like, state.source.params)
  diagnose = jax.jit(functools.partial(meta_diagnostics, trainer.predictor))
  constant = diagnose(ctx, jnp.full_like(ctx.batch.x, 0.7), zero, zero,
                      state.source.params)
  assert float(constant["importance_cv"]) < 1e-12
  assert float(constant["update_change"]) < 1e-12
  varied = jax.random.uniform(jax.random.key(3), ctx.batch.x.shape, jnp.float64,
                              0.2, 1.0)
  out = diagnose(ctx, varied, zero, zero, state.source.params)
  assert float(out["importance_cv"]) > 0.1
  assert float(out["update_change"]) > 0.01
  assert float(out["meta_grad_norm"]) == 0.0 == float(out["meta_step_to_params"])


def test_gil_meta_records_its_diagnostics_on_sequences():
  with jax.enable_x64(False):
    run = fit(from_options("gil_meta", {**OPTIONS, "diagnostics": True}),
              _sequences(), seed=0)
  diag = {k: np.asarray(v) for k, v in run.history.items() if k.startswith("diag_")}
  assert {"diag_importance_cv", "diag_update_change", "diag_meta_grad_norm",
          "diag_meta_step_to_params", "diag_importance_saturation"} <= set(diag)
  assert all(np.isfinite(v).all() for v in diag.values())
  # At this meta rate the importance leaves its constant start within 30 steps.
  assert diag["diag_importance_cv"][-1] > diag["diag_importance_cv"][0] > 0
  assert (diag["diag_meta_grad_norm"] > 0).all()


def test_meta_diagnostics_table_reads_each_runs_selected_step(tmp_path):
  from launch import meta_diagnostics
  runs = [{"split_seed": 0, "seed": 0}, {"split_seed": 1, "seed": 0}]
  (tmp_path / "results.json").write_text(json.dumps(
      {"runs": runs, "methods": {"gil_meta": {"best_step": [20, 10]}}}))
  rows = ["split_seed,seed,diag_importance_cv,step,val_score"]
  for split, cvs in ((0, (0.1, 0.2)), (1, (0.3, 0.5))):
    rows += [f"{split},0,{cv},{step},0.7" for cv, step in zip(cvs, (10, 20))]
  (tmp_path / "history_gil_meta.csv").write_text("\n".join(rows) + "\n")
  summary = meta_diagnostics.summarise(
      meta_diagnostics.read_runs(str(tmp_path), "gil_meta"))
  assert summary["per_run_at_selected_step"]["diag_importance_cv"] == [0.2, 0.3]
  assert summary["per_step"][20]["diag_importance_cv"]["mean"] == pytest.approx(0.35)
  assert "selected 20,10" in meta_diagnostics.table({"1e-4": summary}, [10])
  (tmp_path / "history_gil_meta.csv").write_text("split_seed,seed,step\n0,0,10\n")
  with pytest.raises(ValueError, match="diagnostics=True"):
    meta_diagnostics.read_runs(str(tmp_path), "gil_meta")
