"""A fixed-length synthetic sequence task: the LSTM path end to end in a minute.

  python -m launch.train --config=launch/configs/toy_sequences.py --workdir=runs/toy

400 sequences x 12 steps x 5 variables, 60 % MCAR, binary (class 1 drifts up in two
variables).  The PhysioNet recipe (LSTM, selection by validation AUROC) at toy size;
the tests run it with fewer steps.
"""

import ml_collections

from launch.configs import physionet2012


def get_config() -> ml_collections.ConfigDict:
  c = physionet2012.get_config()
  c.dataset = "toy_sequences"
  c.data = ml_collections.ConfigDict({"num_sequences": 400, "steps": 12,
                                      "features": 5, "missing_rate": 0.6,
                                      "mask_seed": 0})
  c.methods = ("gil", "gil_d", "mean", "carry_forward", "grud", "hgb")
  c.seeds = (0, 1)
  c.train.hidden = (32,)
  c.train.num_steps = 300
  c.train.eval_every = 50
  c.train.actor_hidden = (64, 64)
  c.train.critic_hidden = (64, 64)
  c.train.replay_capacity = 2000
  c.steps_per_call = 150
  return c
