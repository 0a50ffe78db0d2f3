"""Input-space importance ablation (App. G, eq. 70)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gil_jax import metrics
from gil_jax.baselines import input_space
from gil_jax.data import Split
from gil_jax.config import TrainConfig

B, D, E = 9, 6, 5


def _batch():
  rng = np.random.default_rng(0)
  m = (rng.random((B, D)) > 0.4).astype(np.float32)
  m[:, 2] = 0.0  # a column missing in the whole batch
  x = np.where(m > 0, rng.normal(size=(B, D)), 0.0).astype(np.float32)
  y = rng.integers(0, 3, size=B).astype(np.int32)
  return jnp.asarray(x), jnp.asarray(m), jnp.asarray(y)


def test_apply_input_importance():
  x = jnp.arange(6.0).reshape(2, 3)
  h = jnp.full((2, 3), 0.5)
  np.testing.assert_allclose(input_space.apply_input_importance(x, h), x * 0.5)
  with pytest.raises(AssertionError):
    input_space.apply_input_importance(x, h[:, :2])


def test_encoder_gradient_is_eq_70():
  """dL/dW_enc = sum_b (x_b * h_psi(x_b))^T delta_b, and psi gets a gradient."""
  x, m, y = _batch()
  model = input_space.InputSpaceMLP(hidden=(E, 4), num_classes=3,
                                    importance_hidden=(7,))
  params = model.init(jax.random.key(0), x, m)

  def loss(params, probe):
    logits, _, h = model.apply(params, x, m, encoder_probe=probe)
    return jnp.mean(metrics.cross_entropy(logits, y)), h

  (_, h), (grads, delta) = jax.jit(
      jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(params,
                                                              jnp.zeros((B, E)))
  kernel_grad = grads["params"]["predictor"]["encoder"]["kernel"]
  np.testing.assert_allclose(kernel_grad, (x * h).T @ delta, rtol=1e-5, atol=1e-7)
  # Placeholder 0 on a column missing in every sample: no gradient reaches its row.
  np.testing.assert_array_equal(kernel_grad[2], 0.0)
  # Unlike GIL's action, h_psi is trained by the loss.
  h_grads = jax.tree.leaves(grads["params"]["importance"])
  assert any(float(jnp.abs(g).max()) > 0 for g in h_grads)
  assert h.shape == (B, D) and bool(jnp.all((h >= 0) & (h <= 1)))


def test_mask_conditioning_needs_mask():
  x, m, _ = _batch()
  model = input_space.InputSpaceMLP(hidden=(E,), num_classes=3,
                                    importance_hidden=(7,), condition_on_mask=True)
  params = model.init(jax.random.key(0), x, m)
  assert params["params"]["importance"]["Dense_0"]["kernel"].shape == (2 * D, 7)
  with pytest.raises(ValueError, match="pass m"):
    model.apply(params, x)


def _toy_splits():
  rng = np.random.default_rng(1)

  def make(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    m = (rng.random((n, D)) > 0.3).astype(np.float32)
    return Split(x=jnp.asarray(x * m), m=jnp.asarray(m), y=jnp.asarray(y))

  return make(256), make(128)


def test_trainer_learns_and_is_deterministic():
  config = TrainConfig(source="plain", hidden=(16,), batch_size=32, num_steps=120,
                       eval_every=40, learning_rate=3e-3)
  trainer = input_space.make_input_space_trainer(config, D, 2,
                                                 importance_hidden=(16,))
  train, val = _toy_splits()
  runs = []
  for _ in range(2):
    state = trainer.init(jax.random.key(0), train)
    state, hist = trainer.run(state, train, val, num_evals=3)
    runs.append((state, hist))
  (state, hist), (state2, _) = runs
  assert np.all(np.isfinite(hist["loss"]))
  assert hist["loss"][-1] < hist["loss"][0]
  assert float(state.best_score) > 0.7
  for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(state2.params)):
    np.testing.assert_array_equal(a, b)
  probs = trainer.predict(state.best_params, val)
  assert probs.shape == (128, 2)


def test_trainer_rejects_other_sources():
  with pytest.raises(ValueError, match="source='plain'"):
    input_space.make_input_space_trainer(TrainConfig(source="gil"), D, 2)
