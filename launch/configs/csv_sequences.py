"""Your own sequences in the GIL authors' CSV layout, with the PhysioNet recipe.

  python -m launch.train --config=launch/configs/csv_sequences.py:PATH --workdir=DIR

PATH is a folder of ``{split}_{label}.csv`` files (one row per time step, first
column the patient id, empty cell = missing; see ``data_prep/csv_sequences.py``).
All files are pooled and split 80/10/10 (stratified, ``config.split``), values are
standardised with observed training statistics, and the methods, model and schedule
are those of ``physionet2012.py`` (LSTM, selection by validation AUROC; set
``--config.train.selection_metric=accuracy`` for more than two classes).
"""

import ml_collections

from launch.configs import physionet2012


def get_config(directory: str = "") -> ml_collections.ConfigDict:
  if not directory:
    raise ValueError("give the CSV folder after the config file: "
                     "--config=launch/configs/csv_sequences.py:PATH")
  c = physionet2012.get_config()
  c.dataset = "csv_sequences"
  c.data = ml_collections.ConfigDict({"directory": directory})
  return c
