"""Early sepsis prediction on PhysioNet 2019: a public analog of the paper's Table 1.

  # varied length (first record -> window end, last 48 h at most)
  python -m launch.train --config=launch/configs/sepsis2019.py:varied --workdir=runs/sepsis_varied
  # fixed length (last 8 h of the window)
  python -m launch.train --config=launch/configs/sepsis2019.py:fixed --workdir=runs/sepsis_fixed

Each command runs every method on five stratified 80/10/10 splits by patient
(split seeds 0..4, one training seed each; validation carved from the training
part), for both placeholders (``config.grid``: 0 = the observed training mean
after standardisation, and ``"3max"`` = 3 x the largest standardised training
value, the GIL authors' sequence placeholder), and writes
``WORKDIR/placeholder_<p>/results.json`` and ``WORKDIR/report.md``.
``docs/results/sepsis2019_tables.py`` turns the two workdirs into the tables of
``docs/results/sepsis2019.md``.  Only ``gil``, ``gil_d`` and ``gil_h`` read the
placeholder (the imputers, the mask-input variants, GRU-D and boosting never
see it: their rows repeat); to save time, ``--config.grid.settings='("3max",)'
--config.methods='("gil","gil_d","gil_h")'`` runs the 3max rows alone.

Cohort (``data_prep/physionet2019.py``): septic patients whose onset is known
(first record not yet labelled), input = the hours before onset - 4 h; as many
never-septic patients with a random window end (seed 0); ``--config.data.
negative_window=matched`` gives the negatives the positives' window lengths.
The 33 vitals and labs observed in set A (EtCO2 never is); no demographics.
Model selection by validation AUROC.  LSTM width: 64 units on a CPU (both
protocols' grids in a few hours of a shared 2-core CPU); the paper's 1024 with
``--config=launch/configs/sepsis2019.py:varied,gpu`` (or ``:fixed,gpu``).
Steps: 600 (varied) and 1200 (fixed), the paper's 2:1 ratio at less than a third
of its 2,000 / 4,000, to fit the CPU.
"""

import ml_collections
from ml_collections import config_dict

from launch.configs import physionet2012

# The methods of Table 1 that we have, plus the strongest baselines.  New
# importance methods go here, one line each.
METHODS = (
    "gil",
    "gil_d",
    "gil_h",
    "mean",
    "carry_forward",
    "mean_mask",
    "carry_forward_mask",
    "grud",
    "hgb",
)
# Steps per protocol (the paper: 2,000 and 4,000); see best_step in the results.
NUM_STEPS = {"varied": 600, "fixed": 1200}
CPU_HIDDEN = (64,)
GPU_HIDDEN = (1024,)       # the paper's width


def get_config(arg: str = "varied") -> ml_collections.ConfigDict:
  """``arg``: the protocol, ``varied`` or ``fixed``; ``,gpu`` adds the paper's
  1024-unit LSTM (e.g. ``sepsis2019.py:fixed,gpu``)."""
  protocol, *extra = arg.split(",")
  if protocol not in NUM_STEPS or extra not in ([], ["gpu"]):
    raise ValueError(f"config argument must be 'varied' or 'fixed', optionally "
                     f"with ',gpu'; got {arg!r}")
  c = physionet2012.get_config()      # the LSTM recipe of Table 6
  c.dataset = "physionet2019"
  # Keyword arguments of data_prep.physionet2019.load_sequences.
  c.data = ml_collections.ConfigDict({
      "protocol": protocol,
      "gap_hours": 4,
      "min_window_hours": 3,
      "seed": 0,                       # negatives and their window ends
      "negative_window": "uniform",    # or "matched" (window lengths matched)
  })
  c.split.val_fraction = 0.1
  c.split.test_fraction = 0.1
  c.split_seeds = (0, 1, 2, 3, 4)
  c.seeds = (0,)
  c.methods = METHODS
  # A number or "3max" (gil_jax.data.prepare_sequences): the field holds either.
  c.placeholder = config_dict.placeholder(object)
  c.placeholder = 0.0
  c.grid.field = "placeholder"
  c.grid.settings = (0.0, "3max")
  c.train.hidden = GPU_HIDDEN if extra else CPU_HIDDEN
  c.train.num_steps = NUM_STEPS[protocol]
  c.train.eval_every = 50
  c.train.selection_metric = "auroc"
  return c
