"""The importance-source seam and the methods behind it (controls, held-out credit),
the source registry and the flat options of a config."""

import dataclasses
import functools
import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gil_jax.authors.predictor import AuthorsPredictor
from gil_jax.config import (TrainConfig, default_hparams, from_options,
                            to_options)
from gil_jax.data import prepare_tabular
from data_prep.tabular import load_toy_blobs
from gil_jax.sources import ImportanceSource, base, credit, l2rw, register_source
from gil_jax.sources.policy.exploration import Exploration
from gil_jax.sources.policy.networks import Actor
from gil_jax.training.fit import fit, fit_many
from gil_jax.training.step import make_trainer

# Options of the tiny runs, for every source (from_options ignores the options of
# sources other than the one it builds).
TINY_OPTIONS = dict(hidden=(16, 16), batch_size=32, num_steps=40, eval_every=20,
                    learning_rate=3e-3, replay_capacity=256, rl_batch_size=32,
                    actor_hidden=(16, 16), critic_hidden=(16, 16), meta_batch_size=32,
                    meta_hidden=(12,))


def tiny(source: str, **overrides) -> TrainConfig:
  return from_options(source, {**TINY_OPTIONS, **overrides})


def _blobs(n=300, d=6, seed=0, **kw):
  raw = load_toy_blobs(n, d, shift=1.5, seed=seed)
  return prepare_tabular(raw, val_fraction=0.2, test_fraction=0.2, **kw)


def _mean_filled_blobs():
  """Blobs whose filled-in entries hold the observed mean, not 0 (so an importance
  on them changes the gradient)."""
  prep = _blobs(scaling="max", placeholder="mean")
  assert (prep.train.x[prep.train.m == 0] != 0).any()
  return prep


@functools.lru_cache(maxsize=None)
def _learned_gil(diagnostics=False):
  """GIL on the blobs, seed 0 (shared by the tests that compare against it)."""
  return fit(tiny("gil", diagnostics=diagnostics), _blobs(), seed=0)


@pytest.fixture
def registry(monkeypatch):
  """Sources registered by a test are forgotten after it (the library's stay)."""
  base.source_names()                      # the library's sources, registered once
  monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))


def half_mask_factory(config, predictor):
  """A method defined outside the library: a = m / 2, with a counter as state."""
  del config, predictor

  def propose(state, keys, ctx):
    return 0.5 * ctx.batch.m, state + 1, {"calls": state.astype(jnp.float32)}

  return ImportanceSource(init=lambda key, ctx: jnp.zeros((), jnp.int32),
                          propose=propose,
                          observe=lambda state, keys, ctx, a, params: (state, {}))


def test_a_new_method_is_a_source_and_the_training_loop_needs_no_change(registry):
  register_source("half_mask", half_mask_factory)
  prep = _blobs()
  result = fit(tiny("half_mask"), prep, seed=0)
  # The source's state advanced once per step, and its metrics reached the history.
  np.testing.assert_allclose(result.history["calls"], [9.5, 29.5])
  # Under Adam a constant factor on GIL-H's importance cancels (up to eps): the
  # run follows GIL-H's.
  gil_h = fit(tiny("mask"), prep, seed=0)
  np.testing.assert_allclose(result.history["loss"], gil_h.history["loss"], rtol=1e-3)


class BlendHParams(NamedTuple):
  weight: float


@dataclasses.dataclass(frozen=True)
class BlendConfig:
  """A user source's own options: ``a = weight * m + (1 - weight)``."""
  weight: float = 0.5

  def hparams(self) -> BlendHParams:
    return BlendHParams(weight=self.weight)

  def check_hparams(self, hp: BlendHParams) -> None:
    if not 0 <= float(hp.weight) <= 1:
      raise ValueError(f"weight must lie in [0, 1], got {hp.weight}")


def blend_factory(config, predictor):
  """Between the plain gradient (weight 0) and GIL-H (weight 1); the weight is the
  run's vmappable hyper-parameter (``ctx.hparams.source``)."""
  del config, predictor

  def propose(state, keys, ctx):
    w = ctx.hparams.source.weight
    return w * ctx.batch.m + (1.0 - w), state, {"blend_weight": w}

  return ImportanceSource(init=lambda key, ctx: None, propose=propose,
                          observe=base.no_observation)


def test_a_registered_source_with_its_own_config_trains_with_fit_many(registry):
  register_source("blend", blend_factory, config=BlendConfig)
  prep = _mean_filled_blobs()
  half = tiny("blend")                                # BlendConfig's default 0.5
  assert half.source_config == BlendConfig(0.5)
  full = tiny("blend", weight=1.0)                    # a flat option of its config
  assert full.source_config == BlendConfig(1.0)
  (r_half,), (r_full,) = fit_many(half, prep, [0]), fit_many(full, prep, [0])
  # It ran: its metric is in the history, with the config's weight.
  np.testing.assert_array_equal(r_half.history["blend_weight"], [0.5, 0.5])
  np.testing.assert_array_equal(r_full.history["blend_weight"], [1.0, 1.0])
  # The weight reached the step: other weights, other parameters; weight 1 is GIL-H.
  assert not np.array_equal(r_half.params["params"]["encoder"]["kernel"],
                            r_full.params["params"]["encoder"]["kernel"])
  gil_h = fit_many(tiny("mask"), prep, [0])[0]
  np.testing.assert_array_equal(r_full.history["loss"], gil_h.history["loss"])
  # ... and its hyper-parameters vmap: one program runs both weights.
  both = fit_many(half, prep, [0, 0], hparams=[default_hparams(half),
                                              default_hparams(half, weight=1.0)])
  np.testing.assert_allclose(both[0].history["loss"], r_half.history["loss"],
                             rtol=1e-5)
  np.testing.assert_allclose(both[1].history["loss"], r_full.history["loss"],
                             rtol=1e-5)
  with pytest.raises(ValueError, match="weight must lie in"):
    default_hparams(half, weight=2.0)


def test_unknown_source_is_refused_with_the_known_ones():
  with pytest.raises(ValueError, match="unknown importance source 'gil2'.*gil_meta"):
    TrainConfig(source="gil2")


def test_registry_refuses_bad_names_configs_and_models(registry):
  # An unknown source names the registry, where a new one would go.
  with pytest.raises(ValueError, match="'nope'.*register_source"):
    TrainConfig(source="nope")

  class NotADataclass:
    weight = 0.5

  with pytest.raises(TypeError, match="must be a dataclass"):
    register_source("bad_config", blend_factory, config=NotADataclass)
  assert "bad_config" not in base.source_names()
  # A source that proposes an importance needs an importance-weighted encoder,
  # which GRU-D has not: refused when the config is built.
  register_source("blend", blend_factory, config=BlendConfig)
  for source in ("blend", "mask", "gil"):
    with pytest.raises(ValueError,
                       match=f"model 'grud' has no importance-weighted encoder; "
                             f"source '{source}' needs one"):
      TrainConfig(source=source, model="grud")
  TrainConfig(source="plain", model="grud")            # the plain gradient is fine
  register_source("blend_plain", blend_factory, config=BlendConfig,
                  needs_encoder=False)
  TrainConfig(source="blend_plain", model="grud")      # a trait of the registration
  # A config of another source's class is refused too.
  with pytest.raises(TypeError, match="BlendConfig"):
    TrainConfig(source="blend", source_config=l2rw.L2RWConfig())


def test_flat_options_ignore_other_sources_and_reject_unknown_names():
  # meta_shrink belongs to gil_l2rw: "gil" ignores it (one set of options serves
  # every method of a launch) ...
  assert (from_options("gil", {"meta_shrink": 0.9, "actor_lr": 3e-4})
          == from_options("gil", {"actor_lr": 3e-4}))
  assert from_options("gil_l2rw", {"meta_shrink": 0.9}).source_config.meta_shrink == 0.9
  assert from_options("plain", {"actor_lr": 3e-4}) == TrainConfig(source="plain")
  # ... but a name no config knows is an error.
  with pytest.raises(ValueError, match=r"unknown training options \['actor_lrr'\]"):
    from_options("gil", {"actor_lrr": 3e-4})


def test_options_round_trip_through_json():
  config = from_options("gil_d", dict(
      hidden=(16, 8), batch_size=64, optimizer="sgd", actor_lr=3e-4,
      critic_hidden=(24, 12), gil_d_c=2.0, one_draw_per_batch=True,
      exploration=Exploration(p2=0.6, p3=0.3, decay=0.99, p2_floor=0.1),
      authors=AuthorsPredictor(l2=0.02)))
  assert config.source_config.gil_d_c == 2.0
  assert config.source_config.exploration.p2_floor == 0.1
  assert config != TrainConfig(source="gil_d")
  options = json.loads(json.dumps(to_options(config)))
  assert "source" not in options
  assert from_options("gil_d", options) == config


@pytest.mark.parametrize("source", ["gil_random", "gil_frozen"])
def test_policy_controls_keep_the_actor_at_its_initialisation(source):
  prep = _blobs()
  cfg = tiny(source)
  trainer = make_trainer(cfg, prep.train.x.shape[-1], 2)
  init = trainer.init(jax.random.key(0), prep.train)
  result = fit(cfg, prep, seed=0)
  jax.tree.map(np.testing.assert_array_equal, result.source_params,
               jax.device_get(init.source.ddpg.actor))
  if source == "gil_random":      # the actor's share went to random actions
    assert (result.history["actor_share"] == 0).all()
  else:                           # the frozen actor is still asked
    assert result.history["actor_share"].max() > 0
  learned = _learned_gil()
  assert not np.array_equal(jax.tree.leaves(learned.source_params)[0],
                            jax.tree.leaves(result.source_params)[0])


def test_gil_const_interpolates_between_gil_h_and_plain_training():
  prep = _mean_filled_blobs()

  def run(source, **kw):
    return fit(tiny(source, **kw), prep, seed=0).history["loss"]

  const = {c: run("const", missing_importance=c) for c in (0.0, 0.5, 1.0)}
  np.testing.assert_array_equal(const[0.0], run("mask"))           # c = 0 is GIL-H
  np.testing.assert_allclose(const[1.0], run("plain"), rtol=1e-6)  # c = 1: plain
  # c = 0.5 follows neither (the runs are deterministic: any gap is c's effect).
  assert np.abs(const[0.5] - const[0.0]).max() > 1e-5
  assert np.abs(const[0.5] - const[1.0]).max() > 1e-5
  with pytest.raises(ValueError, match="missing_importance"):
    tiny("const", missing_importance=1.5)


@pytest.mark.parametrize("source", ["gil_heldout", "gil_l2rw", "gil_meta"])
def test_heldout_methods_refuse_data_with_no_row_outside_the_batch(source):
  prep = _blobs(n=50)     # 30 training rows for batches of 32
  with pytest.raises(ValueError, match="no row is ever held out"):
    fit(tiny(source), prep, seed=0)
  with pytest.raises(ValueError, match="meta_batch_size must be >= 1"):
    tiny(source, meta_batch_size=0)


def test_heldout_rows_come_from_the_training_split_only(monkeypatch):
  # Which split a source draws its held-out rows from is fixed when the step is
  # traced: tracing (no compilation) is enough to see it.
  prep = _blobs()
  seen = []
  original = credit.draw_heldout_rows

  def spy(key, train, batch_idx, n):
    seen.append(train.x.shape)
    return original(key, train, batch_idx, n)

  monkeypatch.setattr(credit, "draw_heldout_rows", spy)
  for source in ("gil_l2rw", "gil_meta", "gil_heldout"):
    trainer = make_trainer(tiny(source), prep.train.x.shape[-1], 2)
    state = jax.eval_shape(trainer.init_fn, jax.random.key(0), prep.train)
    before = len(seen)
    jax.eval_shape(trainer.step_fn, state, prep.train)
    assert len(seen) > before, source
  assert set(seen) == {prep.train.x.shape}
  assert prep.train.x.shape[0] not in (prep.val.x.shape[0], prep.test.x.shape[0])


def test_credit_weights_clip_normalise_and_fall_back_to_the_mask():
  c = jnp.array([[2.0, -1.0, 1.0], [-3.0, -1.0, 0.0]])
  m = jnp.array([[1, 1, 0], [1, 0, 1]], jnp.float32)
  w = l2rw.credit_weights(c, m)
  np.testing.assert_allclose(w, [[1.0, 0.0, 0.5], [1.0, 0.0, 1.0]])


def test_gil_meta_step_lowers_the_lookahead_heldout_loss():
  prep = _blobs()
  cfg = tiny("gil_meta", optimizer="sgd", learning_rate=0.5, meta_lr=1e-2)
  trainer = make_trainer(cfg, prep.train.x.shape[-1], 2)
  state = trainer.init(jax.random.key(0), prep.train)
  ctx = jax.jit(trainer.context)(state, prep.train)
  keys = base.split_keys(jax.random.key(1), trainer.source.key_names)
  rows = credit.draw_heldout_rows(keys["meta"], prep.train, ctx.batch_idx,
                                  cfg.source_config.meta_batch_size)
  s, _ = trainer.predictor.observe(ctx.batch, ctx.logits, ctx.features)

  def lookahead_loss(a):
    params, _ = trainer.predictor.lookahead(ctx, a)
    return credit.heldout_loss(trainer.predictor, params, prep.train, rows)

  # The importance network has gil_meta's own widths, not the actor's.
  d = prep.train.x.shape[-1]
  kernels = [k.shape for k in jax.tree.leaves(state.source.params) if k.ndim == 2]
  assert [k[1] for k in kernels] == [12, d]
  net = Actor(action_dim=d, hidden=cfg.source_config.meta_hidden)
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
  cfg = tiny("gil_l2rw", num_steps=20)
  together = fit_many(cfg, prep, [0, 1])
  alone = fit(cfg, prep, seed=1)
  np.testing.assert_allclose(together[1].history["loss"], alone.history["loss"],
                             rtol=1e-5)
