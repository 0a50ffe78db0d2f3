"""Your own sequences in the GIL authors' CSV layout, with the PhysioNet recipe.

  python -m launch.train --config=launch/configs/csv_sequences.py:PATH --workdir=DIR

PATH is a folder of ``{split}_{label}.csv`` files (one row per time step, first
column the patient id, empty cell = missing; see ``data_prep/csv_sequences.py``).
What happens to the splits depends on the files there:

* ``train_*`` and ``test_*``: validation is carved from the training files
  (``config.split.val_fraction`` of them), the test files are the test set;
* ``train_*``, ``val_*``, ``test_*``: used as given;
* one split only, or ``--config.data.pool=True``: all files pooled and split
  80/10/10 (stratified, ``config.split``); with ``--config.cv_folds=K``, all
  files pooled into K stratified folds, each fold a run.

The loader's options are fields of ``config.data`` (all settable on the command
line): ``files`` (the authors' names as shipped, e.g.
``--config.data.files=train_0=df_non_shock_train.csv,train_1=df_shock_train.csv,test_0=df_non_shock_test.csv,test_1=df_shock_test.csv``),
``splits`` (e.g. ``'("train","test")'``), ``pool``, ``id_column`` (default: the
first column), ``time_column`` (checked for increasing times, not a variable),
``variables`` (a subset, in order), ``max_steps`` and ``truncate``.
Values are standardised with observed training statistics, and the methods, model
and schedule are those of ``physionet2012.py`` (LSTM, selection by validation
AUROC; set ``--config.train.selection_metric=accuracy`` for more than two classes).
"""

import ml_collections
from ml_collections import config_dict

from launch.configs import physionet2012


def get_config(directory: str = "") -> ml_collections.ConfigDict:
  if not directory:
    raise ValueError("give the CSV folder after the config file: "
                     "--config=launch/configs/csv_sequences.py:PATH")
  c = physionet2012.get_config()
  c.dataset = "csv_sequences"
  # Keyword arguments of data_prep.csv_sequences.load_csv_dataset; None / () /
  # False = the loader's default (placeholders keep the type for the command line).
  c.data = ml_collections.ConfigDict({
      "directory": directory,
      "files": config_dict.placeholder(str),
      "splits": (),
      "pool": False,
      "id_column": config_dict.placeholder(str),
      "time_column": config_dict.placeholder(str),
      "variables": (),
      "max_steps": config_dict.placeholder(int),
      "truncate": False,
  })
  return c
