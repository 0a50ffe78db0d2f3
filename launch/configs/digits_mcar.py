"""Default experiment: scikit-learn digits (8x8) with 50 % MCAR pixels.

Needs no download (the data ship inside scikit-learn); a stand-in for the paper's
MNIST study (Table 3) that runs in a few minutes on 2 CPU cores.
"""

import ml_collections

from launch.configs import common


def get_config() -> ml_collections.ConfigDict:
  c = common.base_config()
  c.dataset = "digits"
  c.data = ml_collections.ConfigDict({"missing_rate": 0.5, "mask_seed": 0})
  c.split.val_fraction = 0.15
  c.split.test_fraction = 0.15
  # Pixels: divide by the maximum so that 0 stays "black", as for MNIST in the paper.
  c.scaling = "max"
  c.methods = ("gil", "gil_h", "zero", "mean")
  c.seeds = (0, 1, 2)
  c.train.hidden = (256, 256)
  c.train.num_steps = 1000
  c.train.eval_every = 50
  c.train.lr_decay_steps = 250
  c.train.lr_decay_rate = 0.9
  return c
