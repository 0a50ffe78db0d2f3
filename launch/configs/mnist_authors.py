"""MNIST MCAR under the authors' code choices, one switch at a time.

  # one switch (argument after the colon), both missing rates (config.grid)
  python -m launch.train --config=launch/configs/mnist_authors.py:bn \
      --workdir=runs/mnist_authors/bn

Switches (gil_jax/authors/): ``default`` (all off: the paper's method),
``bn`` (batch norm in training mode, gated per-example gradients), ``l2`` (L2 0.02
inside the per-example loss), ``reward`` (reward before the update, shared by the
batch), ``one_draw`` (one behaviour draw per batch), ``near_one`` (random actions
near 1 only), ``rl_decay`` (RL learning-rate decay), ``all`` (the six together).
The predictor switches (``bn``, ``l2``, ``all``) change GIL-H and zero imputation
too and run ``gil``, ``gil_h`` and ``zero``; the policy switches change GIL only
and run ``gil`` (its controls are then the ``default`` setting's).

Setup, scaled to a shared 2-core CPU (docs/results/policy_authors.md):
- raw pixels in [0, 1] (``scaling="max"``; 0 = black), what the authors' code fed
  its network; placeholder 0.  Without the predictor switches GIL-H and zero
  imputation are then one computation (x * m = x); with them they differ, which is
  the effect under study;
- 784-128-128-10 MLP (not the paper's 500-500: with batch norm each step takes
  per-example, batch-coupled first-layer gradients, O(B^2 d e), several times
  cheaper at width 128 than at 500), batch 128 (the authors'),
  Adam 1e-3 at a constant rate (the authors' decay never fires),
  1,000 steps (the authors ran 3,000), one evaluation every 100 steps;
- 5 mask seeds x 1 training seed, validation = 10 % of the 60k training images
  (6,000), training on 20,000 of the other 54,000 (``split.train_rows``: one
  launcher process holds the 5 mask seeds' data at once; 8 GB with all rows), the
  official 10k test images as test set; selection on validation, and the test
  score traced at every evaluation (``train.track_test``) for the authors'
  test-selection protocol beside it.
"""

import ml_collections

from launch.configs import common

SWITCHES = {
    "default": {},
    "bn": {"batch_norm": True},
    "l2": {"l2": 0.02},
    "reward": {"reward_before_update": True},
    "one_draw": {"one_draw_per_batch": True},
    "near_one": {"near_one_random": True},
    "rl_decay": {"rl_lr_decay": True},
    "all": {"batch_norm": True, "l2": 0.02, "reward_before_update": True,
            "one_draw_per_batch": True, "near_one_random": True,
            "rl_lr_decay": True},
}
PREDICTOR_SWITCHES = ("default", "bn", "l2", "all")


def get_config(switch: str = "default") -> ml_collections.ConfigDict:
  if switch not in SWITCHES:
    raise ValueError(f"unknown switch {switch!r}; choose from {tuple(SWITCHES)}")
  c = common.base_config()
  c.dataset = "mnist"
  c.data = ml_collections.ConfigDict({"missing_rate": 0.5, "mask_seed": 0})
  c.split.val_fraction = 0.1
  c.split.test_fraction = 0.0          # the official 10k test images are the test set
  c.split.train_rows = 20_000          # of the 54k: memory (5 mask seeds at once)
  c.scaling = "max"
  c.methods = (("gil", "gil_h", "zero") if switch in PREDICTOR_SWITCHES
               else ("gil",))
  c.grid.field = "data.missing_rate"
  c.grid.settings = (0.5, 0.9)
  c.seeds = (0,)
  c.mask_seeds = (0, 1, 2, 3, 4)
  c.train.hidden = (128, 128)
  c.train.num_steps = 1000
  c.train.eval_every = 100
  c.train.lr_decay_rate = 1.0
  c.train.track_test = True
  c.steps_per_call = 500
  c.authors.update(SWITCHES[switch])
  return c
