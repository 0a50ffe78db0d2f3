"""DDPG on a one-step problem whose optimal action is known: the actor must learn it."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gil_jax.sources.policy import ddpg as ddpg_lib
from gil_jax.sources.policy.networks import Actor, Critic


TARGET = jnp.array([0.8, 0.2, 0.3])


def _reward(a):
  return -jnp.sum(jnp.square(a - TARGET), axis=-1)


def test_actor_learns_the_optimal_action_and_critic_fits_rewards():
  # A one-step problem (gamma = 0): r(a) = -||a - TARGET||^2 whatever the state, so
  # Q(s, a) = r(a) and the optimal deterministic policy is pi(s) = TARGET.
  state_dim, n = 4, 64
  actor, critic = Actor(action_dim=3, hidden=(64, 64)), Critic(hidden=(64, 64))
  agent = ddpg_lib.make_ddpg(actor, critic, gamma=0.0, tau=0.05)
  st = agent.init(jax.random.key(0), jnp.zeros((1, state_dim)), jnp.zeros((1, 3)))

  @jax.jit
  def step(st, key):
    ks, ka = jax.random.split(key)
    s = jax.random.normal(ks, (n, state_dim))
    # Exploration around the current policy, as DDPG's behaviour policy does.
    a = jnp.clip(agent.act(st.actor, s) + 0.2 * jax.random.normal(ka, (n, 3)), 0, 1)
    return agent.update(st, ddpg_lib.Transition(s=s, a=a, r=_reward(a), s_next=s),
                        actor_lr=1e-3, critic_lr=1e-2)

  s = jax.random.normal(jax.random.key(2), (16, state_dim))
  start_error = np.abs(agent.act(st.actor, s) - TARGET).mean()
  first = None
  for k in jax.random.split(jax.random.key(1), 1500):
    st, m = step(st, k)
    first = m if first is None else first
  a = agent.act(st.actor, s)
  assert start_error > 0.2                       # the initial policy outputs ~0.5
  assert np.abs(a - TARGET).mean() < 0.05
  np.testing.assert_allclose(a, jnp.broadcast_to(TARGET, a.shape), atol=0.1)
  assert float(m["critic_loss"]) < 0.1 * float(first["critic_loss"])
  # The critic is a reward model here: Q(s, a) ~ r(a) near the policy's actions.
  probe = jnp.clip(a + 0.1 * jax.random.normal(jax.random.key(3), a.shape), 0, 1)
  np.testing.assert_allclose(critic.apply(st.critic, s, probe), _reward(probe),
                             atol=0.05)


def test_critic_loss_is_td_error_against_targets():
  actor, critic = Actor(action_dim=2, hidden=(8,)), Critic(hidden=(8, 8))
  s = jax.random.normal(jax.random.key(0), (5, 3))
  a = jax.random.uniform(jax.random.key(1), (5, 2))
  r = jnp.arange(5.0)
  s2 = jax.random.normal(jax.random.key(2), (5, 3))
  ap = actor.init(jax.random.key(3), s)
  cp = critic.init(jax.random.key(4), s, a)
  tcp = critic.init(jax.random.key(5), s, a)
  batch = ddpg_lib.Transition(s, a, r, s2)
  got = ddpg_lib.critic_loss(cp, ap, tcp, batch, actor=actor, critic=critic,
                             gamma=0.9)
  target = r + 0.9 * critic.apply(tcp, s2, actor.apply(ap, s2))
  want = jnp.mean((critic.apply(cp, s, a) - target) ** 2)
  np.testing.assert_allclose(got, want, rtol=1e-6)


def test_targets_follow_polyak_averaging():
  agent = ddpg_lib.make_ddpg(Actor(action_dim=2, hidden=(8,)), Critic(hidden=(8, 8)),
                             gamma=0.9, tau=0.25, optimizer=optax.sgd)
  st = agent.init(jax.random.key(0), jnp.zeros((1, 3)), jnp.zeros((1, 2)))
  batch = ddpg_lib.Transition(jnp.ones((4, 3)), jnp.full((4, 2), 0.5),
                              jnp.ones(4), jnp.ones((4, 3)))
  new, _ = agent.update(st, batch, actor_lr=0.1, critic_lr=0.1)
  expected = jax.tree.map(lambda p, t: 0.25 * p + 0.75 * t, new.critic,
                          st.target_critic)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6),
               new.target_critic, expected)
  assert not np.allclose(new.critic["params"]["q"]["kernel"],
                         st.critic["params"]["q"]["kernel"])
