"""MNIST with pixels missing at random (MAR): the MAR column of the paper's Table 3.

  python -m launch.train --config=launch/configs/mnist_mar.py --workdir=runs/mnist_mar

The paper (sec. 4.4, following MIWAE) keeps part of each image always observed and
draws the missing pixels from a distribution conditioned on features of that part,
without giving the rate or the feature.  Here (gil_jax.data.missingness.mar_mask): the
bottom 14 pixel rows are always observed; each of the top 14 rows goes missing as a
whole with probability sigmoid(b + 2 z), z = standardised mean brightness of the
observed half, and b calibrated so that 35 % of all pixels are missing (70 % of the
top half on average).  Everything else is as in mnist_mcar.py (one setting, no grid).
"""

import ml_collections

from launch.configs import mnist_mcar


def get_config() -> ml_collections.ConfigDict:
  c = mnist_mcar.get_config()
  c.data = ml_collections.ConfigDict({
      "missing_rate": 0.35, "mask_seed": 0, "mechanism": "mar",
      "mar_observed_fraction": 0.5, "mar_group_size": 28, "mar_strength": 2.0})
  c.grid.field = ""
  c.grid.settings = ()
  return c
