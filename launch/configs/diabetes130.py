"""Diabetes 130-US hospitals (UCI): readmission within 30 days vs rest.

101,766 encounters of 71,518 patients; the split is grouped by patient (80/10/10 of
patients, ``split.split_seed``), so no patient is in two splits.  292 encoded
features (ICD-9 chapters, one-hot categories, ``None`` lab results = missing); 11.2 %
positive.  One split (the data are large), 5 seeds, selection on validation AUROC.
Scaled to 2 shared CPU cores: 1,000 steps of batch 128 (about 1.6 epochs of the
81,000 training encounters; the validation AUROC has flattened by then), MICE fitted
on a 3,000-row subsample with 10 nearest features and 3 rounds.
"""

import ml_collections

from launch.configs import common


def get_config() -> ml_collections.ConfigDict:
  c = common.table_config("diabetes130")
  c.split.test_fraction = 0.1
  c.imputer_options.mice = {"max_iter": 3, "n_nearest_features": 10,
                            "max_fit_rows": 3000, "clip": True}
  c.imputer_options.miwae = {"num_steps": 2000, "num_samples": 100}
  c.train.num_steps = 1000
  return c
