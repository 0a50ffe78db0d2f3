"""MNIST with MCAR missing pixels: the paper's Table 3 (sec. 4.4, App. D.3).

  # the whole grid: 3 rates x 5 mask seeds x all methods, then report.md / .csv
  python -m launch.train --config=launch/configs/mnist_mcar.py --workdir=runs/mnist_mcar
  # one rate only (same layout: runs/mnist_mcar/missing_rate_0.9)
  python -m launch.train --config=launch/configs/mnist_mcar.py --workdir=runs/mnist_mcar \
      --config.grid.settings='(0.9,)'

784-500-500-10 MLP, batch 128, 5 mask seeds per missing rate (std over mask seeds),
validation carved from the 60k training images (10 %), selection on validation
accuracy every 250 steps.

Choices that differ from a literal reading of the paper (docs/results/mnist.md):
- Pixels are standardised per pixel with the observed training pixels, so the
  placeholder 0 is the pixel's mean.  On raw [0, 1] pixels (0 = black) every
  placeholder method lands 6-8 points below the paper at 90 % while mean
  imputation matches its zero imputation: the paper's inputs were centred.  On
  standardised inputs zero imputation, GIL-H and mean imputation are one
  computation (tests/test_launch_methods.py), so only ``mean`` runs; report it as
  all three.  Centring without dividing by the std (``--config.scaling=center``)
  scores a little higher for the same computation, and validation agrees
  (docs/results/mnist.md, "Where the gap to the paper comes from").
- 5,000 steps, not the paper's maximum of 10,000: at 90 % every method's validation
  accuracy peaks at 1,250-2,750 steps and then overfits, and the grid must fit on
  2 CPU cores.
- GAIN trains 2,000 steps, so that the grid fits on 2 CPU cores.
"""

import ml_collections

from launch.configs import common


def get_config() -> ml_collections.ConfigDict:
  c = common.base_config()
  c.dataset = "mnist"
  c.data = ml_collections.ConfigDict({"missing_rate": 0.5, "mask_seed": 0})
  c.split.val_fraction = 0.1
  c.split.test_fraction = 0.0          # the official 10k test images are the test set
  c.scaling = "standardize"
  c.methods = ("gil", "input_space", "mean", "gain", "knn", "mice")
  c.grid.field = "data.missing_rate"
  c.grid.settings = (0.5, 0.7, 0.9)
  # Bounds that make the scikit-learn imputers run in minutes on 70k x 784 images on
  # 2 cores (kNN's cost is O(rows x donor rows x d), so 500 donors; MICE: 3 rounds
  # of 784 regressions on 20 nearest features, fitted on 2,000 rows).  GAIN trains
  # on all training rows.
  c.imputer_options.knn.max_fit_rows = 500
  c.imputer_options.mice.max_fit_rows = 2000
  c.imputer_options.mice.max_iter = 3
  c.imputer_options.gain.num_steps = 2000
  c.seeds = (0,)
  c.mask_seeds = (0, 1, 2, 3, 4)
  c.train.hidden = (500, 500)
  c.train.num_steps = 5000
  c.train.eval_every = 250
  c.train.lr_decay_steps = 1000
  c.train.lr_decay_rate = 0.9
  c.steps_per_call = 1000
  return c
