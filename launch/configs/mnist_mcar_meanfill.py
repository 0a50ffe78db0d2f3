"""MNIST MCAR on raw [0, 1] pixels with each missing pixel set to its training mean.

  python -m launch.train --config=launch/configs/mnist_mcar_meanfill.py \
      --workdir=runs/meanfill --config.grid.settings='(0.9,)'

A diagnostic variant of mnist_mcar.py (docs/results/mnist.md, "Where the gap to the
paper comes from").  Here the placeholder is not 0, so the methods differ:
``mean`` and ``zero`` both train on mean-filled pixels with the plain gradient
(mean imputation); ``gil_h`` lets only observed pixels into the encoder gradient
(``x * m``) while the forward pass sees the means; ``gil`` learns how much each
filled pixel counts.  10,000 steps: on raw pixels mean imputation peaks at 8,500 to
10,000 steps at 90 %.
"""

import ml_collections

from launch.configs import mnist_mcar


def get_config() -> ml_collections.ConfigDict:
  c = mnist_mcar.get_config()
  c.scaling = "none"
  with c.ignore_type():
    c.placeholder = "mean"           # gil_jax.data.prepare_tabular
  c.methods = ("mean", "gil_h", "gil")
  c.train.num_steps = 10000
  c.train.track_test = True
  return c
