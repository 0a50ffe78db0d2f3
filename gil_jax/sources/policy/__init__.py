"""GIL's importance policy (sec. 2.3, App. B and D), one idea per module.

* :mod:`~gil_jax.sources.policy.networks`: the actor ``pi_theta(s) in [0,1]^d`` and
  the critic ``Q(s, a)``;
* :mod:`~gil_jax.sources.policy.ddpg`: the actor-critic update with target networks;
* :mod:`~gil_jax.sources.policy.replay`: the on-device replay buffer;
* :mod:`~gil_jax.sources.policy.exploration`: the behaviour policy of eq. (42);
* :mod:`~gil_jax.sources.policy.rewards`: GIL-D's reward (eq. 43) and balanced
  batches;
* :mod:`~gil_jax.sources.policy.source`: the importance source (``gil``, ``gil_d``,
  ``gil_random``, ``gil_frozen``) and :class:`PolicyConfig`;
* :mod:`~gil_jax.sources.policy.heldout`: ``gil_heldout``, the same policy with a
  held-out-credit reward.
"""
