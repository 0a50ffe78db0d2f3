"""The authors' TF1 code choices, as switches.

The paper and the authors' public code (gaoqitong/gradient-importance-learning,
``tabular_data/tabular_mlp_GIL_train.py``, ``qnetwork.py``) differ in several places.
Our defaults follow the paper; each switch below restores one of the code's choices,
so that each one's share of the paper's GIL > GIL-H > zero ordering can be measured.
Every switch is off by default, and with all of them off the trainer runs exactly its
default program.  The launcher sets them all from one ``config.authors`` section.

Predictor (:class:`gil_jax.authors.predictor.AuthorsPredictor`, ``TrainConfig.authors``):

1. ``batch_norm``: batch normalisation in training mode on the hidden layers (the
   code's ``slim.batch_norm``: centre, no scale, epsilon 1e-3, no bias in the dense
   layers).  The code takes per-example gradients of each example's loss *through
   the batch-coupled forward pass*, scales the first layer's per-example rows by
   ``a_b`` and averages, so the importance also gates what each loss contributes
   through the batch statistics.  Evaluation uses "precise BN" statistics, not the
   code's moving averages (which made its test accuracy swing between 0.13 and 0.79
   run to run).
2. ``l2``: weight decay inside the per-example loss (the code's
   ``l2_regularizer(0.02)`` on the hidden kernels and every bias, averaged over the
   regularised tensors by ``tf.reduce_mean`` of the collection), so its gradient on
   the first kernel's row ``j`` is scaled by ``mean_b a_bj``.

Policy (fields of :class:`gil_jax.sources.policy.PolicyConfig`):

3. ``reward_before_update``: the reward is the batch's loss *before* the update,
   averaged over the batch and copied to every transition (the code's
   ``r = np.repeat(-kld, batch_size)``; we keep cross-entropy, as in the default).
   The reward then does not depend on the action at all.
4. ``one_draw_per_batch``: one behaviour-policy draw (actor / heuristic / random)
   for the whole batch, not one per sample.
5. ``near_one_random``: random actions drawn from the component centred at 1 only
   (the code's ``timesteps // 2`` with ``timesteps = 1`` empties the other half).
6. ``rl_lr_decay``: actor and critic learning rates x0.965 every 10 steps while the
   mean reward of the last 10 steps is >= -25
   (:mod:`gil_jax.authors.rl_rate_decay`).

7. The sequence code's placeholder ``3 x`` the training maximum is a data choice:
   ``gil_jax.data.prepare_sequences(placeholder="3max")`` (launcher:
   ``config.placeholder = "3max"``, e.g. ``launch/configs/sepsis2019.py``'s grid).
"""

from gil_jax.authors.predictor import AuthorsPredictor

__all__ = ["AuthorsPredictor"]
