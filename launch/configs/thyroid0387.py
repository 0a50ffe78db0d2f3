"""thyroid0387 (UCI): "no condition" vs any condition, natural missingness.

9,172 records, 29 features once the ``*_measured`` flags (the labs' mask) are
dropped (``data_prep/uci_tables.py``); 5.6 % of the encoded cells missing, TBG 96 %.
The data are small, so every run gets its own stratified 80/10/10 split
(``split_seeds``), selected on validation AUROC.  The methods of the results page
``docs/results/tables.md``; with standardised inputs and placeholder 0, ``gil_h`` and
``zero`` are the same computation as ``mean`` (docs/methods.md), so only ``mean`` runs.
About 15 minutes on 2 shared CPU cores.
"""

import ml_collections

from launch.configs import common

TABLE_METHODS = common.TABLE_METHODS


def get_config() -> ml_collections.ConfigDict:
  c = common.table_config("thyroid0387")
  c.split.test_fraction = 0.1
  c.seeds = (0,)
  c.split_seeds = (0, 1, 2, 3, 4)
  return c
