"""Behaviour policy (App. D, eq. 42): mode frequencies, decay with floors, random actions."""

import jax
import jax.numpy as jnp
import numpy as np

from gil_jax.sources.policy import exploration as policy


def test_mode_frequencies_match_p2_and_p3():
  n, d = 40_000, 3
  actor = jnp.full((n, d), 0.25)
  mask = jnp.ones((n, d))
  action, mode = jax.jit(policy.behaviour_action)(
      jax.random.key(0), actor, mask, jnp.float32(0.3), jnp.float32(0.2))
  mode = np.asarray(mode)
  assert abs((mode == policy.RANDOM).mean() - 0.2) < 0.01
  assert abs((mode == policy.HEURISTIC).mean() - 0.3) < 0.01
  assert abs((mode == policy.ACTOR).mean() - 0.5) < 0.01
  a = np.asarray(action)
  np.testing.assert_array_equal(a[mode == policy.ACTOR], 0.25)
  np.testing.assert_array_equal(a[mode == policy.HEURISTIC], 1.0)


def test_probabilities_decay_geometrically_to_their_floors():
  sched = policy.Exploration(p2=0.5, p3=0.4, decay=0.99, p2_floor=0.3, p3_floor=0.2)
  p2, p3 = policy.probabilities(sched, jnp.int32(10))
  np.testing.assert_allclose([p2, p3], [0.5 * 0.99**10, 0.4 * 0.99**10], rtol=1e-5)
  p2, p3 = policy.probabilities(sched, jnp.int32(5000))
  np.testing.assert_allclose([p2, p3], [0.3, 0.2])
  no_floor = sched._replace(p2_floor=0.0, p3_floor=0.0, decay=0.95)
  p2, p3 = policy.probabilities(no_floor, jnp.int32(100))
  np.testing.assert_allclose([p2, p3], [0.5 * 0.95**100, 0.4 * 0.95**100], rtol=1e-4)


def test_random_importance_is_a_bimodal_mixture_on_the_unit_interval():
  a = np.asarray(policy.random_importance(jax.random.key(1), (200_000,), sigma=0.2))
  assert a.min() >= 0.0 and a.max() <= 1.0
  # Both components are drawn (the authors' tabular code only drew the one at 1).
  low, high = (a < 0.5).mean(), (a >= 0.5).mean()
  assert abs(low - 0.5) < 0.01 and abs(high - 0.5) < 0.01
  # Mass sits near the ends: a truncated N(0, 0.2) has mean 0.2*phi(0)/0.5 ~ 0.16.
  np.testing.assert_allclose(a[a < 0.5].mean(), 0.2 * 0.7979 * 1.0, atol=0.02)
  assert (np.abs(a - 0.5) < 0.1).mean() < 0.1


def test_random_importance_matches_the_truncated_normal_mixture_exactly():
  from scipy import stats
  a = np.asarray(policy.random_importance(jax.random.key(3), (100_000,), sigma=0.2))
  # CDF of the mixture: 0.5 * TN(0, 0.2; [0, 1]) + 0.5 * TN(1, 0.2; [0, 1]).
  low = stats.truncnorm(0.0, 5.0, loc=0.0, scale=0.2)
  high = stats.truncnorm(-5.0, 0.0, loc=1.0, scale=0.2)
  cdf = lambda t: 0.5 * low.cdf(t) + 0.5 * high.cdf(t)
  assert stats.kstest(a, cdf).pvalue > 1e-3


def test_behaviour_action_broadcasts_mode_over_time_axis():
  actor = jnp.zeros((500, 4, 2))
  mask = jnp.ones((500, 4, 2))
  action, mode = policy.behaviour_action(jax.random.key(2), actor, mask,
                                         jnp.float32(0.5), jnp.float32(0.0))
  a = np.asarray(action)
  heur = np.asarray(mode) == policy.HEURISTIC
  assert heur.any() and (~heur).any()
  np.testing.assert_array_equal(a[heur], 1.0)
  np.testing.assert_array_equal(a[~heur], 0.0)
