"""MNIST with MCAR missing pixels: the paper's Table 3 (sec. 4.4, App. D.3).

  # the whole grid: 3 rates x 5 mask seeds x all methods, then report.md / .csv
  python -m launch.train --config=launch/configs/mnist_mcar.py --workdir=runs/mnist_mcar
  # one rate only (same layout: runs/mnist_mcar/missing_rate_0.9)
  python -m launch.train --config=launch/configs/mnist_mcar.py --workdir=runs/mnist_mcar \
      --config.grid.settings='(0.9,)'

784-500-500-10 MLP, batch 128, 10,000 steps (App. D.3), 5 mask seeds per missing
rate (std over mask seeds), validation carved from the 60k training images (10 %).
Pixels are in [0, 1], unscaled, so the placeholder 0 is a black pixel as in the paper.
"""

import ml_collections

from launch.configs import common


def get_config() -> ml_collections.ConfigDict:
  c = common.base_config()
  c.dataset = "mnist"
  c.data = ml_collections.ConfigDict({"missing_rate": 0.5, "mask_seed": 0})
  c.split.val_fraction = 0.1
  c.split.test_fraction = 0.0          # the official 10k test images are the test set
  c.scaling = "none"
  c.methods = ("gil", "gil_h", "input_space", "zero", "mean", "knn", "mice", "gain")
  c.grid.field = "data.missing_rate"
  c.grid.settings = (0.5, 0.7, 0.9)
  # Bounds that make the scikit-learn imputers run in minutes on 60k x 784 (their
  # cost is O(rows x fitting rows x d)); GAIN trains on all training rows.
  c.imputer_options.knn.max_fit_rows = 2000
  c.imputer_options.mice.max_fit_rows = 5000
  c.seeds = (0,)
  c.mask_seeds = (0, 1, 2, 3, 4)
  c.train.hidden = (500, 500)
  c.train.num_steps = 10_000
  c.train.eval_every = 250
  c.train.lr_decay_steps = 1000
  c.train.lr_decay_rate = 0.9
  c.steps_per_call = 1000
  return c
