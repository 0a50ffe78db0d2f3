"""The authors' code choices (gil_jax.authors): each switch does what it says."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from data_prep.tabular import load_toy_blobs
from gil_jax.authors import rl_rate_decay
from gil_jax.authors import predictor as authors_predictor
from gil_jax.authors.batch_norm import BatchNormMLPPredictor
from gil_jax.authors.predictor import AuthorsPredictor
from gil_jax.config import TrainConfig, from_options
from gil_jax.data import Split, prepare_tabular
from gil_jax.metrics import cross_entropy
from gil_jax.predictor import make_predictor
from gil_jax.sources.base import source_spec
from gil_jax.sources.policy import exploration as policy
from gil_jax.sources.policy.source import PolicyConfig
from gil_jax.training.step import make_trainer

# Options of the tiny runs, for every source (from_options ignores the options of
# sources other than the one it builds).
TINY_OPTIONS = dict(hidden=(8, 6), batch_size=12, num_steps=20, eval_every=10,
                    replay_capacity=64, rl_batch_size=8, actor_hidden=(8,) * 2,
                    critic_hidden=(8,) * 2)
# The authors' policy switches 3-6: fields of the policy's config.
POLICY_FIELDS = ("reward_before_update", "one_draw_per_batch", "near_one_random",
                 "rl_lr_decay")
POLICY_SWITCHES = {name: True for name in POLICY_FIELDS}


def _config(source="plain", **overrides) -> TrainConfig:
  """The tiny config of ``source`` with ``overrides`` (flat option names)."""
  return from_options(source, {**TINY_OPTIONS, **overrides})


def _tabular(n=80, d=5, seed=0):
  """Placeholder-0 data: x = 0 wherever m = 0 (GIL-H = zero without BN / L2)."""
  raw = load_toy_blobs(n, d, shift=1.0, seed=seed, name="t")
  return prepare_tabular(raw, val_fraction=0.2, test_fraction=0.2, scaling="max")


def _bn_model_and_batch(b=6, d=5):
  model = BatchNormMLPPredictor(hidden=(4, 3), num_classes=3)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(b, d)), jnp.float32)
  batch = Split(x=x, m=jnp.ones_like(x), y=jnp.asarray(rng.integers(0, 3, b)))
  params = model.init(jax.random.key(0), x)
  a = jax.random.uniform(jax.random.key(1), (b, d))
  return model, params, batch, a


def test_bn_gated_gradient_is_the_authors_per_example_definition():
  model, params, batch, a = _bn_model_and_batch()

  def per_example_ce(kernel):
    p = {**params, "params": {**params["params"], "encoder": {
        **params["params"]["encoder"], "kernel": kernel}}}
    return cross_entropy(model.apply(p, batch.x)[0], batch.y)

  kernel = params["params"]["encoder"]["kernel"]
  per_example = jax.jit(jax.jacrev(per_example_ce))(kernel)   # [B, d, e], coupled
  expected = jnp.mean(per_example * a[:, :, None], axis=0)
  got = jax.jit(authors_predictor.gated_kernel_gradient, static_argnums=0)(
      model, params, batch, a)
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
  # Batch norm couples the samples: the factored rule of eq. (4) differs.
  delta = jax.grad(lambda pr: jnp.mean(cross_entropy(
      model.apply(params, batch.x, encoder_probe=pr)[0], batch.y)))(
          jnp.zeros((6, 4)))
  assert not np.allclose((batch.x * a).T @ delta, expected, atol=1e-4)


def _trained(source, authors, steps=2):
  prep = _tabular()
  config = _config(source, authors=authors)
  trainer = make_trainer(config, prep.train.x.shape[-1], prep.num_classes)
  state = trainer.init(jax.random.key(0), prep.train)
  step = jax.jit(trainer.step_fn)
  for _ in range(steps):
    state, _ = step(state, prep.train)
  return trainer, state, prep


@pytest.fixture(scope="module")
def bn_runs():
  """GIL-H ("mask") and zero imputation ("plain"), two steps from the same state,
  with batch norm."""
  return {s: _trained(s, AuthorsPredictor(batch_norm=True)) for s in ("mask", "plain")}


def test_bn_makes_gil_h_differ_from_zero_with_placeholder_0(bn_runs):
  prep = bn_runs["plain"][2]
  # Without the switch they are one computation: x * m = x with placeholder 0, so
  # eq. (4)'s kernel gradient is the same for a = m and a = 1.
  np.testing.assert_array_equal(prep.train.x * prep.train.m, prep.train.x)
  kernels = [bn_runs[s][1].params["params"]["encoder"]["kernel"]
             for s in ("mask", "plain")]
  # With it, a_b = m_b gates what sample b's loss sends through the batch
  # statistics to the other samples' inputs.
  assert not np.allclose(*kernels, atol=1e-6)


def test_bn_evaluation_is_deterministic_and_independent_of_the_scored_rows(bn_runs):
  trainer, state, prep = bn_runs["mask"]
  params = state.params
  module = trainer.predictor.model.module
  assert isinstance(module, BatchNormMLPPredictor)
  # The stored statistics are the precise-BN statistics of the current parameters.
  fresh = authors_predictor.precise_statistics(module, params, prep.train.x, 1024)
  for a, b in zip(jax.tree.leaves(fresh), jax.tree.leaves(params["bn_stats"])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  val = prep.val
  full = np.asarray(trainer.predict(params, val))
  np.testing.assert_array_equal(full, np.asarray(trainer.predict(params, val)))
  order = np.random.default_rng(0).permutation(len(val.y))[:7]
  part = np.asarray(trainer.predict(params, jax.tree.map(lambda v: v[order], val)))
  np.testing.assert_allclose(part, full[order], rtol=1e-5, atol=1e-6)
  # Training mode (batch statistics) would score the rows differently.
  train_mode = jax.nn.softmax(module.apply(params, val.x[order])[0])
  assert not np.allclose(train_mode, part, atol=1e-4)


def test_l2_in_the_per_example_loss_is_gated_by_the_importance():
  # SGD with rate 1: the update is minus the gradient.
  config = _config("mask", optimizer="sgd", learning_rate=1.0,
                   authors=AuthorsPredictor(l2=0.02))
  prep = _tabular()
  d, num_classes = prep.train.x.shape[-1], prep.num_classes
  trainer = make_trainer(config, d, num_classes)
  state = trainer.init(jax.random.key(0), prep.train)
  ctx = trainer.context(state, prep.train)
  rule = authors_predictor.make_authors_predictor(config, d, num_classes)
  a = jnp.ones_like(ctx.batch.x).at[:, 1].set(0.0).at[:, 2].set(0.5)
  new, _ = rule.update(ctx, a)
  grad = jax.tree.map(lambda p, q: p - q, ctx.params["params"], new["params"])
  w = ctx.params["params"]
  # 5 regularised tensors (hidden kernels and all biases): d/dw = 0.02 / 5 * w.
  coef = 0.02 / 5
  assert len(authors_predictor.regularised_paths(ctx.params, False)) == 5
  g_enc = grad["encoder"]["kernel"]
  factored = (ctx.x_enc * a).T @ ctx.delta
  np.testing.assert_allclose(g_enc[1], 0.0, atol=1e-7)   # a = 0: no decay either
  np.testing.assert_allclose(g_enc[2], factored[2] + 0.5 * coef * w["encoder"]["kernel"][2],
                             rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(g_enc[0], factored[0] + coef * w["encoder"]["kernel"][0],
                             rtol=1e-4, atol=1e-7)
  plain = ctx.grads["params"]
  np.testing.assert_allclose(grad["inference_0"]["kernel"],
                             plain["inference_0"]["kernel"]
                             + coef * w["inference_0"]["kernel"], rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(grad["logits"]["kernel"], plain["logits"]["kernel"],
                             rtol=1e-5, atol=1e-8)   # the logits' weights: no decay
  # The trainer takes this rule (GIL-H: a = m).
  stepped, _ = trainer.step_fn(state, prep.train)
  by_rule = rule.update(ctx, ctx.batch.m)[0]
  for u, v in zip(jax.tree.leaves(stepped.params), jax.tree.leaves(by_rule)):
    np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)
  # With the switches off, the authors' rule is the default predictor's update
  # (eq. (4)'s factored rule).
  config_off = dataclasses.replace(config, authors=AuthorsPredictor())
  off = authors_predictor.make_authors_predictor(
      config_off, d, num_classes).update(ctx, a)[0]
  default = make_predictor(config_off, d, num_classes).update(ctx, a)[0]
  for u, v in zip(jax.tree.leaves(off), jax.tree.leaves(default)):
    np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(ctx.params["params"]["encoder"]["kernel"]
                             - off["params"]["encoder"]["kernel"], factored,
                             rtol=1e-4, atol=1e-7)


def _gil_trajectory(switches, steps):
  """A tiny GIL run: the state, each step's metrics and each step's action."""
  prep = _tabular()
  config = _config("gil", **switches)
  trainer = make_trainer(config, prep.train.x.shape[-1], prep.num_classes)
  state = trainer.init(jax.random.key(0), prep.train)
  step = jax.jit(trainer.step_fn)
  out = []
  for _ in range(steps):
    state, metrics = step(state, prep.train)
    out.append((state.source.pending, metrics))
  return state, step, prep, out


def _low_share(out):
  """Share of action entries strictly inside (0, 0.3): only the random action's
  near-0 component puts mass there (the heuristic is 0/1, the actor ~0.5)."""
  a = np.concatenate([np.asarray(p.a).ravel() for p, _ in out])
  return ((a > 0) & (a < 0.3)).mean()


def test_policy_switches_in_a_gil_run():
  state, step, prep, out = _gil_trajectory(POLICY_SWITCHES, 22)
  for pending, metrics in out:
    # Reward before the update, shared by the batch: -(the batch's mean CE before
    # the update, which the step reports as its loss).
    np.testing.assert_allclose(pending.r, -metrics["loss"], rtol=1e-6)
    # One behaviour draw per batch: the actor acts for all samples or for none.
    assert float(metrics["actor_share"]) in (0.0, 1.0)
  # Random actions from the near-1 component only: P(a < 0.3) = 2 Phi(-3.5) ~ 0.05 %
  # (and some steps did take random actions: the heuristic's are 0 or 1).
  assert any(float(m["actor_share"]) == 0 and not np.isin(p.a, (0.0, 1.0)).all()
             for p, m in out)
  assert _low_share(out) < 0.01
  # Reward -CE > -25: rates x0.965 after steps 10 and 20.
  np.testing.assert_allclose(state.source.lr_decay.scale, 0.965**2, rtol=1e-6)
  np.testing.assert_allclose(out[-1][1]["rl_lr_scale"], 0.965**2, rtol=1e-6)
  # The scale reaches the DDPG update: at scale 0 actor and critic stop moving.
  frozen = state._replace(source=state.source._replace(
      lr_decay=state.source.lr_decay._replace(scale=jnp.zeros(()))))
  after, _ = step(frozen, prep.train)
  moved, _ = step(state, prep.train)
  for name in ("actor", "critic"):
    before = jax.tree.leaves(getattr(state.source.ddpg, name))
    assert not all(np.array_equal(a, b) for a, b in zip(
        before, jax.tree.leaves(getattr(moved.source.ddpg, name))))
    for a, b in zip(before, jax.tree.leaves(getattr(after.source.ddpg, name))):
      np.testing.assert_array_equal(a, b)


def test_all_switches_off_is_the_default_gil_run():
  # All off is the default config: the paper's method.
  tiny_gil = _config("gil")
  assert TrainConfig().authors == AuthorsPredictor() == tiny_gil.authors
  assert not AuthorsPredictor().active
  for policy_config in (PolicyConfig(), TrainConfig().source_config,
                        tiny_gil.source_config):
    assert not any(getattr(policy_config, name) for name in POLICY_FIELDS)
  state, _, _, out = _gil_trajectory({}, 12)
  # None of the switches' signatures: per-sample rewards after the update,
  # per-sample behaviour draws, near-0 random actions, no rate decay.
  assert any(np.ptp(np.asarray(p.r)) > 0 for p, _ in out)
  assert any(0 < float(m["actor_share"]) < 1 for _, m in out)
  assert _low_share(out) > 0.05
  assert state.source.lr_decay is None and "rl_lr_scale" not in out[-1][1]


def test_rl_rate_decay_fires_every_10_steps_while_the_reward_is_high_enough():
  update = jax.jit(rl_rate_decay.rl_rate_decay_update)
  for reward, decays in ((-1.0, 3), (-30.0, 0)):
    state = rl_rate_decay.rl_rate_decay_init()
    for t in range(35):
      state = update(state, jnp.int32(t), jnp.float32(reward))
      assert float(state.scale) == pytest.approx(0.965 ** min(decays, t // 10))


def test_one_behaviour_draw_per_batch():
  actor, mask = jnp.full((50, 3), 0.25), jnp.ones((50, 3))
  draw = jax.jit(jax.vmap(lambda k: policy.behaviour_action(
      k, actor, mask, 0.3, 0.3, one_draw_per_batch=True)[1]))
  modes = np.asarray(draw(jax.random.split(jax.random.key(0), 40)))
  assert (modes == modes[:, :1]).all()       # one mode per batch
  assert set(modes[:, 0]) == {policy.ACTOR, policy.HEURISTIC, policy.RANDOM}


def test_near_one_random_actions_are_the_near_one_component_only():
  a = np.asarray(jax.jit(lambda k: policy.random_importance(
      k, (100_000,), 0.2, near_one_only=True))(jax.random.key(0)))
  assert a.min() >= 0.0 and a.max() <= 1.0
  # TN(1, 0.2) on [0, 1]: mean 1 - 0.2 sqrt(2/pi) / (1 - 2 Phi(-5)); P(a < 0.5) =
  # 2 Phi(-2.5) = 1.2 % (the default mixture: 50 %).
  np.testing.assert_allclose(a.mean(), 1 - 0.2 * np.sqrt(2 / np.pi), atol=3e-3)
  assert abs((a < 0.5).mean() - 0.0124) < 0.003
  actor, mask = jnp.zeros((400, 6)), jnp.zeros((400, 6))
  action, mode = jax.jit(lambda k: policy.behaviour_action(
      k, actor, mask, 0.0, 1.0, near_one_only=True))(jax.random.key(1))
  assert (np.asarray(mode) == policy.RANDOM).all()
  assert (np.asarray(action) >= 0.5).mean() > 0.97


LOOKS_AHEAD = "replace the factored update of eq. \\(4\\) that source '{}' looks ahead"


@pytest.mark.parametrize("source, bad, match", [
    ("plain", dict(authors=AuthorsPredictor(l2=-0.1)),
     "authors.l2 must be finite and >= 0"),
    ("plain", dict(authors=AuthorsPredictor(batch_norm=True), model="lstm",
                   hidden=(8,)), "for the MLP predictor only"),
    ("gil_meta", dict(authors=AuthorsPredictor(l2=0.02)),
     LOOKS_AHEAD.format("gil_meta")),
    ("gil_l2rw", dict(authors=AuthorsPredictor(batch_norm=True)),
     LOOKS_AHEAD.format("gil_l2rw")),
    ("gil_heldout", dict(authors=AuthorsPredictor(l2=0.02)),
     LOOKS_AHEAD.format("gil_heldout")),
    ("gil", dict(authors=AuthorsPredictor(batch_norm=True), diagnostics=True),
     "diagnostics"),
    ("plain", dict(authors=AuthorsPredictor(batch_norm=True), batch_size=1),
     "batch_size >= 2"),
    ("gil_heldout", dict(reward_before_update=True), "held-out credit"),
])
def test_bad_authors_switches_are_rejected(source, bad, match):
  with pytest.raises(ValueError, match=match):
    _config(source, **bad)


@pytest.mark.parametrize("switch, method", [("rl_lr_decay", "gil_l2rw"),
                                            ("one_draw_per_batch", "gil_meta")])
def test_a_policy_switch_for_a_method_without_the_policy_is_rejected(switch, method):
  from launch import translation
  from launch.configs import mnist_authors
  # Those sources' configs have no such field: nothing in them would read it.
  spec = source_spec(method)
  assert switch not in {f.name for f in dataclasses.fields(spec.config)}
  assert not spec.fixed
  config = mnist_authors.get_config("default")
  config.authors[switch] = True
  with pytest.raises(ValueError, match=(
      rf"authors\.{switch} acts on GIL's DDPG policy; method '{method}' "
      rf"\(source '{method}'\) does not use it")):
    translation.train_config(config, method)


def test_launcher_config_reaches_the_trainer_and_rejects_unsupported_methods():
  from launch import translation, validation
  from launch.configs import mnist_authors
  for switch, fields in mnist_authors.SWITCHES.items():
    config = mnist_authors.get_config(switch)
    predictor_fields = {k: v for k, v in fields.items()
                        if k in AuthorsPredictor._fields}
    policy_fields = {k: v for k, v in fields.items() if k not in predictor_fields}
    assert set(policy_fields) <= set(POLICY_FIELDS)
    for method in config.methods:
      tcfg = translation.train_config(config, method)
      # The predictor's switches go to TrainConfig.authors ...
      assert tcfg.authors == AuthorsPredictor(**predictor_fields)
      # ... the policy's to the policy's config; a source with a fixed importance
      # (GIL-H, zero) has no policy, and runs beside GIL with shared options.
      if isinstance(tcfg.source_config, PolicyConfig):
        for name in POLICY_FIELDS:
          assert getattr(tcfg.source_config, name) == policy_fields.get(name, False)
      else:
        assert source_spec(tcfg.source).fixed, (switch, method)
  default = translation.train_config(mnist_authors.get_config("default"), "gil")
  assert default.authors == TrainConfig().authors
  assert not any(getattr(default.source_config, name) for name in POLICY_FIELDS)
  # The policy switches with a method that has no DDPG policy: a clear error
  # before any data is loaded.
  config = mnist_authors.get_config("rl_decay")
  config.methods = ("gil", "gil_meta")
  with pytest.raises(validation.ConfigError, match="gil_meta.*DDPG policy"):
    validation.check_config(config)
