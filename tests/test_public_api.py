"""The public surface: ``gil_jax.__all__`` resolves, every public name says what it
is, and an importance source runs in a loop of the user's own, without the trainer."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np

import gil_jax


def _own_docstring(obj) -> str:
  doc = inspect.getdoc(obj) or ""
  # NamedTuples and dataclasses get "Name(field, ...)" when they have none.
  generated = doc.startswith(f"{getattr(obj, '__name__', '')}(")
  return "" if generated else doc


def test_every_public_name_resolves_and_has_a_docstring():
  missing = []
  for name in gil_jax.__all__:
    obj = getattr(gil_jax, name)
    if name.startswith("__") or not (inspect.isclass(obj) or callable(obj)):
      continue
    if len(_own_docstring(obj)) < 20:
      missing.append(name)
  assert not missing, f"public names without a docstring: {missing}"


def test_all_lists_exactly_the_public_names_and_no_duplicates():
  assert len(set(gil_jax.__all__)) == len(gil_jax.__all__)
  for name in gil_jax.__all__:
    assert hasattr(gil_jax, name), name


def _toy():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(400, 6)).astype(np.float32)
  y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
  x[rng.random(x.shape) < 0.3] = np.nan
  return gil_jax.prepare_tabular(gil_jax.RawTabular(
      x, y, 2, tuple("abcdef"), "toy"), placeholder="mean")


def test_a_source_runs_in_a_users_own_loop():
  data = _toy()
  config = gil_jax.from_options("gil", dict(
      hidden=(16,), batch_size=32, actor_hidden=(16, 16), critic_hidden=(16, 16),
      rl_batch_size=32))
  predictor = gil_jax.make_predictor(config, num_features=6, num_classes=2)
  source = gil_jax.make_source(config, predictor)
  hparams = gil_jax.default_hparams(config)
  train = jax.tree.map(jnp.asarray, data.train)

  @jax.jit
  def step(params, opt_state, source_state, rng, t):
    keys = gil_jax.sources.split_keys(rng, source.key_names)
    batch_idx = jax.random.randint(keys["next"], (32,), 0, train.y.shape[0])
    ctx = predictor.context(t, hparams, train, batch_idx, params, opt_state)
    a, source_state, _ = source.propose(source_state, keys, ctx)
    params, opt_state = predictor.update(ctx, a)                 # eq. (4)
    source_state, _ = source.observe(source_state, keys, ctx, a, params)
    return params, opt_state, source_state, keys["rng"], ctx.loss

  params = predictor.init(jax.random.key(0), train)
  opt_state = predictor.init_optimizer(params)
  idx = jnp.arange(32)
  logits, features = predictor.apply(params, gil_jax.sources.take(train, idx))
  ctx0 = gil_jax.StepContext(step=jnp.int32(0), hparams=hparams, train=train,
                             batch_idx=idx, batch=gil_jax.sources.take(train, idx),
                             params=params, opt_state=opt_state, logits=logits,
                             features=features)
  source_state = source.init(jax.random.key(1), ctx0)
  rng, losses = jax.random.key(2), []
  for t in range(150):
    params, opt_state, source_state, rng, loss = step(
        params, opt_state, source_state, rng, jnp.int32(t))
    losses.append(float(loss))
  assert np.mean(losses[-20:]) < 0.8 * np.mean(losses[:20])
  assert int(source_state.replay.size) > 0          # the policy stored transitions
