"""The GIL gradient rule (eq. 4) in its factored form, against its definition."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gil_jax.importance import (ImportanceDense, encoder_cotangents,
                                importance_matmul, importance_weighted_encoder)
from gil_jax.models import MLPPredictor
from gil_jax.metrics import cross_entropy


def _problem(key, batch, d, classes=3, hidden=(7, 5)):
  kx, ky, ka, kp = jax.random.split(key, 4)
  x = jax.random.normal(kx, (batch, d))
  y = jax.random.randint(ky, (batch,), 0, classes)
  a = jax.random.uniform(ka, (batch, d))
  model = MLPPredictor(hidden=hidden, num_classes=classes)
  params = model.init(kp, x)
  return model, params, x, y, a


def _mean_loss(model, params, x, y, a):
  logits, _ = model.apply(params, x, a)
  return jnp.mean(cross_entropy(logits, y))


@pytest.mark.parametrize("batch,d,hidden", [(1, 3, (4,)), (8, 5, (7, 5)),
                                            (33, 17, (16, 8, 4))])
def test_factored_gradient_matches_per_example_definition(batch, d, hidden):
  model, params, x, y, a = _problem(jax.random.key(batch), batch, d, hidden=hidden)
  grads = jax.jit(jax.grad(_mean_loss, argnums=1), static_argnums=0)(
      model, params, x, y, a)

  def one(xb, yb):  # plain per-example gradient
    return jax.grad(_mean_loss, argnums=1)(model, params, xb[None], yb[None], None)
  per_example = jax.vmap(one)(x, y)
  kernel = per_example["params"]["encoder"]["kernel"]          # [B, d, h]
  expected = jnp.mean(kernel * a[:, :, None], axis=0)            # mean_b grad_b * a_b
  np.testing.assert_allclose(grads["params"]["encoder"]["kernel"], expected,
                             rtol=1e-5, atol=1e-6)
  # Every other parameter keeps its ordinary gradient.
  for path in (("encoder", "bias"), ("logits", "kernel"), ("logits", "bias")):
    got = grads["params"][path[0]][path[1]]
    want = jnp.mean(per_example["params"][path[0]][path[1]], axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_importance_applies_over_leading_time_axis():
  kx, kw, ka, kg = jax.random.split(jax.random.key(0), 4)
  x = jax.random.normal(kx, (4, 6, 3))            # [B, T, d]
  w = jax.random.normal(kw, (3, 5))
  a = jax.random.uniform(ka, (4, 6, 3))
  g = jax.random.normal(kg, (4, 6, 5))
  _, vjp = jax.vjp(lambda w: importance_matmul(x, w, a), w)
  expected = jnp.einsum("btd,bth->dh", x * a, g)
  np.testing.assert_allclose(vjp(g)[0], expected, rtol=1e-5, atol=1e-5)


def test_forward_pass_is_unchanged_by_importance():
  model, params, x, _, a = _problem(jax.random.key(1), 9, 4)
  np.testing.assert_array_equal(model.apply(params, x, a)[0],
                                model.apply(params, x)[0])


def test_importance_of_ones_gives_exactly_the_plain_gradient():
  model, params, x, y, _ = _problem(jax.random.key(2), 16, 6)
  ones = jnp.ones_like(x)
  g_imp = jax.grad(_mean_loss, argnums=1)(model, params, x, y, ones)
  g_plain = jax.grad(_mean_loss, argnums=1)(model, params, x, y, None)
  chex.assert_trees_all_close(g_imp, g_plain, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("placeholder", [0.0, 3.0, -7.5])
def test_mask_importance_zeroes_kernel_rows_of_missing_features(placeholder):
  model, params, x, y, _ = _problem(jax.random.key(3), 12, 6)
  m = (jax.random.uniform(jax.random.key(4), x.shape) > 0.4).astype(jnp.float32)
  m = m.at[:, 2].set(0.0)                     # feature 2 missing in the whole batch
  x = jnp.where(m > 0, x, placeholder)
  g = jax.grad(_mean_loss, argnums=1)(model, params, x, y, m)["params"]
  kernel = g["encoder"]["kernel"]
  np.testing.assert_array_equal(kernel[2], 0.0)
  # Per sample, only observed entries contribute: dW = sum_b (x_b * m_b)^T delta_b.
  delta = encoder_cotangents(
      lambda p: _loss_with_probe(model, params, x, y, p), (x.shape[0], 7))
  np.testing.assert_allclose(kernel, (x * m).T @ delta, rtol=1e-5, atol=1e-6)
  assert np.abs(kernel).sum() > 0


def _loss_with_probe(model, params, x, y, probe):
  """The predictor's loss with ``probe`` added to the encoder pre-activation."""
  p = params["params"]
  z = x @ p["encoder"]["kernel"] + p["encoder"]["bias"] + probe
  h = jax.nn.relu(z)
  h = jax.nn.relu(h @ p["inference_0"]["kernel"] + p["inference_0"]["bias"])
  logits = h @ p["logits"]["kernel"] + p["logits"]["bias"]
  return jnp.mean(cross_entropy(logits, y))


def test_optax_transformation_composes_with_adam():
  model, params, x, y, a = _problem(jax.random.key(5), 10, 4)
  adam = optax.adam(1e-2)
  tx = optax.chain(importance_weighted_encoder(("params", "encoder", "kernel")),
                   optax.adam(1e-2))
  plain_grads = jax.grad(_mean_loss, argnums=1)(model, params, x, y, None)
  delta = encoder_cotangents(
      lambda p: _loss_with_probe(model, params, x, y, p), (x.shape[0], 7))
  state = tx.init(params)
  updates, state = tx.update(plain_grads, state, params, encoder_inputs=x,
                             encoder_cotangents=delta, importance=a)
  # Reference: the custom-VJP layer's gradient fed to plain Adam.
  ref_grads = jax.grad(_mean_loss, argnums=1)(model, params, x, y, a)
  ref_updates, _ = adam.update(ref_grads, adam.init(params), params)
  chex.assert_trees_all_close(updates, ref_updates, rtol=1e-5, atol=1e-7)
  assert not np.allclose(ref_grads["params"]["encoder"]["kernel"],
                         plain_grads["params"]["encoder"]["kernel"])


def test_optax_transformation_rejects_wrong_shapes():
  model, params, x, y, a = _problem(jax.random.key(6), 10, 4)
  tx = importance_weighted_encoder(("params", "encoder", "kernel"))
  grads = jax.grad(_mean_loss, argnums=1)(model, params, x, y, None)
  with pytest.raises(AssertionError):
    tx.update(grads, tx.init(params), params, encoder_inputs=x[:, :3],
              encoder_cotangents=jnp.zeros((10, 7)), importance=a[:, :3])


def test_importance_dense_without_importance_is_nn_dense():
  import flax.linen as nn
  x = jax.random.normal(jax.random.key(7), (3, 4))
  layer = ImportanceDense(5)
  params = layer.init(jax.random.key(8), x)
  dense_out = nn.Dense(5).apply(params, x)
  np.testing.assert_allclose(layer.apply(params, x), dense_out, rtol=1e-6)
