"""Adult (UCI census income): income >50K, natural missingness in 3 categoricals.

The official split is kept: 32,561 training rows (10 % carved out for validation,
stratified, by ``split.split_seed``) and the 16,281-row official test file.  105
encoded features (one-hot categories; a missing category = an all-missing group);
1.9 % of the encoded cells missing.  5 seeds, selection on validation AUROC.
About 20 minutes on 2 shared CPU cores.
"""

import ml_collections

from launch.configs import common
from launch.configs.thyroid0387 import TABLE_METHODS


def get_config() -> ml_collections.ConfigDict:
  c = common.base_config()
  c.dataset = "adult"
  c.data = ml_collections.ConfigDict()
  c.split.val_fraction = 0.1          # of the official training file
  c.scaling = "standardize"
  c.methods = TABLE_METHODS
  c.seeds = (0, 1, 2, 3, 4)
  c.imputer_options.mice = {"max_iter": 5, "n_nearest_features": 20,
                            "max_fit_rows": 10000, "clip": True}
  c.train.hidden = (256, 256)
  c.train.num_steps = 2000
  c.train.eval_every = 100
  c.train.selection_metric = "auroc"
  return c
