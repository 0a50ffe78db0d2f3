"""Adult (UCI census income): income >50K, natural missingness in 3 categoricals.

The official split is kept: 32,561 training rows (10 % carved out for validation,
stratified, by ``split.split_seed``) and the 16,281-row official test file.  105
encoded features (one-hot categories; a missing category = an all-missing group);
1.9 % of the encoded cells missing.  5 seeds, selection on validation AUROC.
About 20 minutes on 2 shared CPU cores.
"""

import ml_collections

from launch.configs import common


def get_config() -> ml_collections.ConfigDict:
  return common.table_config("adult")   # validation: 10 % of the official training file
