"""Deep deterministic policy gradient (Silver et al. 2014; Lillicrap et al. 2015).

The actor-critic that learns GIL's importance policy (paper sec. 2.3, eq. 5):

    critic:  min_nu  E[(Q_nu(s, a) - (r + gamma * Q_nu'(s', pi_theta'(s'))))^2]
    actor:   max_theta  E[Q_nu(s, pi_theta(s))]
    targets: nu' <- tau * nu + (1 - tau) * nu'   (likewise theta')

GIL's task never terminates, so there is no done flag.  Functions are pure over a
:class:`DDPGState`; :func:`make_ddpg` binds the networks and optimizers.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax


class Transition(NamedTuple):
  s: jax.Array        # [..., state_dim]
  a: jax.Array        # [..., action_dim]
  r: jax.Array        # [...]
  s_next: jax.Array   # [..., state_dim]


class DDPGState(NamedTuple):
  actor: Any
  critic: Any
  target_actor: Any
  target_critic: Any
  actor_opt: Any
  critic_opt: Any


class DDPG(NamedTuple):
  """The DDPG functions bound to given networks and optimizer family.

  ``update(state, batch, actor_lr, critic_lr)`` takes the learning rates as (possibly
  traced) scalars, so that runs with different rates can share one vmapped program.
  """
  init: Callable[[jax.Array, jax.Array, jax.Array], DDPGState]
  act: Callable[[Any, jax.Array], jax.Array]
  update: Callable[..., tuple[DDPGState, dict]]
  value: Callable[[Any, jax.Array, jax.Array], jax.Array]   # Q(s, a)


def critic_loss(critic_params, target_actor_params, target_critic_params,
                batch: Transition, *, actor: nn.Module, critic: nn.Module,
                gamma: float) -> jax.Array:
  """Mean squared TD error against the target networks (eq. 5, critic part)."""
  a_next = actor.apply(target_actor_params, batch.s_next)
  q_next = critic.apply(target_critic_params, batch.s_next, a_next)
  target = jax.lax.stop_gradient(batch.r + gamma * q_next)
  q = critic.apply(critic_params, batch.s, batch.a)
  return jnp.mean(jnp.square(q - target))


def actor_loss(actor_params, critic_params, s: jax.Array, *, actor: nn.Module,
               critic: nn.Module) -> jax.Array:
  """``-E[Q(s, pi(s))]``: its gradient is the deterministic policy gradient (eq. 5)."""
  return -jnp.mean(critic.apply(critic_params, s, actor.apply(actor_params, s)))


def make_ddpg(actor: nn.Module, critic: nn.Module, *, gamma: float = 0.99,
              tau: float = 1e-3,
              optimizer: Callable[[Any], optax.GradientTransformation] = optax.adam
              ) -> DDPG:
  """Binds networks and an optimizer family into ``init``, ``act`` and ``update``.

  Args:
    actor: module mapping states ``[..., S]`` to actions ``[..., A]``.
    critic: module mapping ``(s, a)`` to Q-values ``[...]``.
    gamma: discount factor (0.99 in the paper).
    tau: Polyak rate of the target networks (1e-3 in the authors' code).
    optimizer: ``learning_rate -> GradientTransformation`` (Adam in the paper); its
      state must not depend on the learning rate's value.

  Returns:
    A :class:`DDPG` of pure functions.
  """

  def init(key, example_state, example_action) -> DDPGState:
    k_actor, k_critic = jax.random.split(key)
    actor_params = actor.init(k_actor, example_state)
    critic_params = critic.init(k_critic, example_state, example_action)
    return DDPGState(actor=actor_params, critic=critic_params,
                     target_actor=actor_params, target_critic=critic_params,
                     actor_opt=optimizer(1.0).init(actor_params),
                     critic_opt=optimizer(1.0).init(critic_params))

  def act(actor_params, s):
    return actor.apply(actor_params, s)

  def update(state: DDPGState, batch: Transition, actor_lr, critic_lr
             ) -> tuple[DDPGState, dict]:
    actor_tx, critic_tx = optimizer(actor_lr), optimizer(critic_lr)
    # Critic and actor gradients are both taken at the current parameters (as in
    # OpenAI Baselines' DDPG), so the critic's state branch on `batch.s` is computed
    # once for both losses.
    c_loss, c_grads = jax.value_and_grad(critic_loss)(
        state.critic, state.target_actor, state.target_critic, batch,
        actor=actor, critic=critic, gamma=gamma)
    a_loss, a_grads = jax.value_and_grad(actor_loss)(
        state.actor, state.critic, batch.s, actor=actor, critic=critic)
    c_updates, critic_opt = critic_tx.update(c_grads, state.critic_opt, state.critic)
    critic_params = optax.apply_updates(state.critic, c_updates)
    a_updates, actor_opt = actor_tx.update(a_grads, state.actor_opt, state.actor)
    actor_params = optax.apply_updates(state.actor, a_updates)
    new = DDPGState(
        actor=actor_params, critic=critic_params,
        target_actor=optax.incremental_update(actor_params, state.target_actor, tau),
        target_critic=optax.incremental_update(critic_params, state.target_critic,
                                               tau),
        actor_opt=actor_opt, critic_opt=critic_opt)
    return new, {"critic_loss": c_loss, "actor_loss": a_loss}

  return DDPG(init=init, act=act, update=update, value=critic.apply)
