"""thyroid0387 (UCI): "no condition" vs any condition, natural missingness.

9,172 records, 29 features once the ``*_measured`` flags (the labs' mask) are
dropped (``data_prep/uci_tables.py``); 5.6 % of the encoded cells missing, TBG 96 %.
The data are small, so every run gets its own stratified 80/10/10 split
(``split_seeds``), selected on validation AUROC.  The methods of the results page
``docs/results/tables.md``; with standardised inputs and placeholder 0, ``gil_h`` and
``zero`` are the same computation as ``mean`` (README), so only ``mean`` runs.
About 15 minutes on 2 shared CPU cores.
"""

import ml_collections

from launch.configs import common

TABLE_METHODS = ("gil", "mean", "mean_mask", "mice", "hgb", "logreg")


def get_config() -> ml_collections.ConfigDict:
  c = common.base_config()
  c.dataset = "thyroid0387"
  c.data = ml_collections.ConfigDict()
  c.split.val_fraction = 0.1
  c.split.test_fraction = 0.1
  c.scaling = "standardize"
  c.methods = TABLE_METHODS
  c.seeds = (0,)
  c.split_seeds = (0, 1, 2, 3, 4)
  c.imputer_options.mice = {"max_iter": 5, "n_nearest_features": 20,
                            "max_fit_rows": 10000, "clip": True}
  c.train.hidden = (256, 256)
  c.train.num_steps = 2000
  c.train.eval_every = 100
  c.train.selection_metric = "auroc"
  return c
