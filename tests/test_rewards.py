"""GIL-D's reward term (App. D.1, eq. 43) and the class-balanced sampler."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gil_jax.sources.policy.rewards import (balanced_batch_indices,
                                            gil_d_distance, gil_d_reward,
                                            split_by_class)


def test_distance_matches_eq_43_on_hand_examples():
  # b = 4 (q = 1): 0.5 + 2.5 - 4 - 1.
  pos = jnp.array([[1.0, 0.0], [3.0, 2.0]])
  neg = jnp.array([[0.0, 0.0], [1.0, 1.0]])
  np.testing.assert_allclose(gil_d_distance(pos, neg), -2.0)
  # b = 8 (q = 2), e = 1:
  #   MSE([1,2],[0,0]) = 2.5   MSE([3,5],[4,4]) = 1
  #   MSE([1,2],[3,5]) = 6.5   MSE([0,0],[4,4]) = 16     -> D = -19
  pos = jnp.array([[1.0], [2.0], [3.0], [5.0]])
  neg = jnp.array([[0.0], [0.0], [4.0], [4.0]])
  np.testing.assert_allclose(gil_d_distance(pos, neg), -19.0)
  np.testing.assert_allclose(jax.jit(gil_d_distance)(pos, neg), -19.0)


def test_distance_rewards_separated_classes():
  key_pos, key_neg = jax.random.split(jax.random.key(0))
  noise = 0.1 * jax.random.normal(key_pos, (8, 3))
  apart = gil_d_distance(noise + 1.0, noise[::-1] - 1.0)
  mixed = gil_d_distance(noise, jax.random.permutation(key_neg, noise))
  assert apart > 3.0 > mixed


def test_distance_rejects_bad_shapes():
  with pytest.raises(ValueError, match="must be even"):
    gil_d_distance(jnp.zeros((3, 2)), jnp.zeros((3, 2)))
  with pytest.raises(ValueError, match=r"\[b/2, e\]"):
    gil_d_distance(jnp.zeros((4, 2)), jnp.zeros((4, 3)))


def _hand_batch():
  """A shuffled balanced batch whose F+, F- (in batch order) are the b = 8 example."""
  labels = jnp.array([0, 1, 1, 0, 0, 1, 0, 1])
  zeta = jnp.zeros((8, 1))
  zeta = zeta.at[jnp.array([1, 2, 5, 7])].set(jnp.array([[1.0], [2.0], [3.0], [5.0]]))
  zeta = zeta.at[jnp.array([0, 3, 4, 6])].set(jnp.array([[0.0], [0.0], [4.0], [4.0]]))
  ce = jnp.arange(8, dtype=jnp.float32) / 10
  return ce, zeta, labels


def test_reward_is_minus_ce_plus_c_times_d_for_shuffled_and_ordered_batches():
  ce, zeta, labels = _hand_batch()
  want = -ce + 5.0 * -19.0
  np.testing.assert_allclose(gil_d_reward(ce, zeta, labels), want, rtol=1e-6)
  np.testing.assert_allclose(jax.jit(gil_d_reward)(ce, zeta, labels, 2.0),
                             -ce + 2.0 * -19.0, rtol=1e-6)
  # Class-ordered (positives first, each class in batch order): the same D.
  order = jnp.array([1, 2, 5, 7, 0, 3, 4, 6])
  np.testing.assert_allclose(gil_d_reward(ce[order], zeta[order], labels[order]),
                             want[order], rtol=1e-6)
  pos, neg, balanced = split_by_class(zeta, labels)
  np.testing.assert_array_equal(pos[:, 0], [1, 2, 3, 5])
  np.testing.assert_array_equal(neg[:, 0], [0, 0, 4, 4])
  assert balanced


def test_reward_passes_no_gradient_through_d():
  ce, zeta, labels = _hand_batch()
  g_ce, g_zeta = jax.grad(lambda c, z: gil_d_reward(c, z, labels).sum(),
                          argnums=(0, 1))(ce, zeta)
  np.testing.assert_array_equal(g_ce, -1.0)
  np.testing.assert_array_equal(g_zeta, 0.0)


def test_reward_rejects_unbalanced_or_non_binary_batches():
  ce, zeta, labels = _hand_batch()
  unbalanced = labels.at[0].set(1)
  with pytest.raises(ValueError, match="class-balanced"):
    gil_d_reward(ce, zeta, unbalanced)
  with pytest.raises(ValueError, match="binary"):
    gil_d_reward(ce, zeta, labels.at[0].set(2))
  with pytest.raises(ValueError, match="multiple of 4"):
    gil_d_reward(ce[:6], zeta[:6], labels[:6])
  with pytest.raises(ValueError, match=r"must be \[b\]"):
    gil_d_reward(ce[:4], zeta, labels)
  # Under jit the balance cannot raise: the rewards turn NaN instead.
  assert np.isnan(jax.jit(gil_d_reward)(ce, zeta, unbalanced)).all()


def _labels():
  # 10 positives among 50 rows, at irregular positions.
  return jnp.zeros(50, jnp.int32).at[jnp.arange(3, 50, 5)].set(1)


@pytest.mark.parametrize("form", ["labels", "class_arrays"])
@pytest.mark.parametrize("replace", [False, True])
def test_sampler_gives_half_per_class_over_many_draws(form, replace):
  labels = _labels()
  pop = labels if form == "labels" else [jnp.flatnonzero(labels == k) for k in (0, 1)]
  draw = jax.jit(jax.vmap(lambda k: balanced_batch_indices(
      k, pop, 8, num_classes=2, replace=replace)))
  idx = np.asarray(draw(jax.random.split(jax.random.key(0), 400)))    # [400, 8]
  got = np.asarray(labels)[idx]
  np.testing.assert_array_equal(got[:, :4], 0)      # class blocks, b/2 each
  np.testing.assert_array_equal(got[:, 4:], 1)
  if not replace:
    assert all(len(set(row)) == 8 for row in idx)   # no repeats within a batch
  # Every positive is drawn, each about equally often (400 * 4 / 10 = 160).
  counts = np.bincount(idx[:, 4:].ravel(), minlength=50)[np.asarray(labels) == 1]
  assert counts.min() > 100 and counts.max() < 220


def test_sampler_is_deterministic_by_key_and_handles_more_classes():
  labels = jnp.arange(30, dtype=jnp.int32) % 3
  a = balanced_batch_indices(jax.random.key(1), labels, 9)
  b = balanced_batch_indices(jax.random.key(1), labels, 9)
  c = balanced_batch_indices(jax.random.key(2), labels, 9)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert a.dtype == jnp.int32 and a.shape == (9,)
  np.testing.assert_array_equal(np.asarray(labels)[np.asarray(a)],
                                [0, 0, 0, 1, 1, 1, 2, 2, 2])


def test_sampler_rejects_what_cannot_be_balanced():
  labels = _labels()
  with pytest.raises(ValueError, match="multiple of the number of classes"):
    balanced_batch_indices(jax.random.key(0), labels, 7)
  with pytest.raises(ValueError, match="class 1 has 10 rows"):
    balanced_batch_indices(jax.random.key(0), labels, 24)
  balanced_batch_indices(jax.random.key(0), labels, 24, replace=True)   # fine
  with pytest.raises(ValueError, match="class 1 has 0 rows"):
    balanced_batch_indices(jax.random.key(0), [jnp.arange(5), jnp.arange(0)], 4,
                           replace=True)
  with pytest.raises(ValueError, match="pass num_classes"):
    jax.jit(lambda y: balanced_batch_indices(jax.random.key(0), y, 8))(labels)
  with pytest.raises(ValueError, match="integer vector"):
    balanced_batch_indices(jax.random.key(0), labels.astype(jnp.float32), 8)
