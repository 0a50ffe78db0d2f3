"""Does GIL's policy learn, and does held-out credit help?  PhysioNet 2012, 5 splits.

  python -m launch.train --config=launch/configs/physionet2012_importance.py \
      --workdir=runs/importance_p12

physionet2012.py's protocol (b) (five stratified 80/10/10 splits of set A, LSTM
H = 128, selection by validation AUROC), one seed per split, with GIL, its controls
(``gil_random``, ``gil_frozen``), the held-out-credit methods (``gil_heldout``,
``gil_l2rw``, ``gil_meta``) alone and with the mask appended as inputs (``_mask``),
GIL on mask-augmented inputs, mean imputation (= zero = GIL-H here), mean + mask
and gradient boosting; the policy diagnostics recorded at every evaluation
(docs/results/policy.md, docs/results/importance.md).
"""

import ml_collections

from launch.configs import physionet2012


def get_config() -> ml_collections.ConfigDict:
  c = physionet2012.get_config()
  c.methods = ("gil", "gil_random", "gil_frozen", "gil_heldout", "gil_l2rw",
               "gil_meta", "gil_mask", "gil_l2rw_mask", "gil_meta_mask", "mean",
               "mean_mask", "hgb")
  c.seeds = (0,)
  c.split_seeds = (0, 1, 2, 3, 4)
  c.train.diagnostics = True
  return c
