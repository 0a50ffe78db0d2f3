"""Defaults shared by every experiment config (paper App. D and the authors' code)."""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.dataset = ""                      # key of launch.datasets.DATASETS
  c.data = ml_collections.ConfigDict()  # keyword arguments of the dataset's loader
  # train_rows > 0 (tabular data): train on that many of the training rows, drawn
  # with the split seed (launch.datasets.training_subset); 0 = all of them.
  c.split = ml_collections.ConfigDict(
      {"val_fraction": 0.1, "test_fraction": 0.1, "split_seed": 0, "train_rows": 0})
  c.scaling = "standardize"           # see gil_jax.data.prepare_tabular
  c.placeholder = 0.0                 # value of missing entries after scaling
  c.drop_all_missing_columns = False
  c.methods = ("gil", "gil_h", "zero", "mean")
  c.seeds = (0, 1, 2)
  c.mask_seeds = ()                   # if set: one dataset per mask seed (x seeds)
  c.split_seeds = ()                  # if set: one split per seed (x mask seeds x seeds)
  # K >= 2: stratified K-fold cross-validation over all rows (gil_jax/data/folds.py);
  # each fold is a run (x split seeds x mask seeds x seeds); 0 = off.
  c.cv_folds = 0
  # One command for a grid: for each value in ``settings``, ``field`` (a dotted config
  # path, e.g. "data.missing_rate") is set and the experiment runs in
  # WORKDIR/<last part of field>_<value>; a report over all settings follows.
  c.grid = ml_collections.ConfigDict({"field": "", "settings": ()})
  # Options of the imputers (gil_jax.baselines.imputers), bounded for MNIST's size.
  c.imputer_options = ml_collections.ConfigDict({
      "knn": {"max_fit_rows": 5000},
      "mice": {"max_iter": 5, "n_nearest_features": 20, "max_fit_rows": 10000,
               "clip": False},
      "missforest": {"max_iter": 3, "max_fit_rows": 5000},
      "gain": {"num_steps": 10000},
      "em": {"max_iter": 100, "max_fit_rows": 20000},
      "miwae": {"num_steps": 20000, "num_samples": 1000},
      "gpvae": {"num_steps": 2000},    # the rest: gil_jax.baselines.gpvae defaults
  })
  c.steps_per_call = 500              # steps per host call (progress granularity)
  # How the runs of a method share one program (gil_jax.training.fit.fit_many):
  # "loop" makes each run's numbers independent of the others (bit for bit alone,
  # among 5 or 20, sharded); "vmap" batches them, and their last bits depend on the
  # group's width.  The committed results were made with "vmap".
  c.batching = "vmap"
  c.checkpoint_every_call = False     # orbax checkpoint after each host call
  c.train = ml_collections.ConfigDict({
      "hidden": (500, 500),
      "batch_size": 128,
      "num_steps": 2000,
      "eval_every": 100,
      "optimizer": "adam",
      "learning_rate": 1e-3,
      "lr_decay_steps": 1000,
      "lr_decay_rate": 1.0,
      "selection_metric": "accuracy",
      "track_test": False,           # diagnostic: trace test score (never selects)
      "actor_lr": 1e-4,
      "critic_lr": 1e-3,
      "gamma": 0.99,
      "tau": 1e-3,
      "replay_capacity": 10_000,
      "rl_batch_size": 128,
      "actor_hidden": (400, 300),
      "critic_hidden": (400, 300),
      "model": "mlp",
      "gil_d_c": 5.0,
      # Held-out-credit methods (gil_heldout, gil_l2rw, gil_meta;
      # gil_jax/sources/credit.py); also the rows GIL's diagnostics score.
      "meta_batch_size": 128,
      "meta_shrink": 0.5,
      "meta_prior": "ones",
      # gil_meta's importance network: one layer of 128 is cheaper per step than
      # the actor's 400-300 and scores the same (docs/results/importance.md,
      # "Cost per step").
      "meta_hidden": (128,),
      "meta_lr": 1e-4,               # gil_meta's Adam rate for its network
      "missing_importance": 0.5,     # gil_const: a = m + c (1 - m)
      # Record the importance source's diagnostics at every eval
      # (gil_jax/sources/credit.py).
      "diagnostics": False,
  })
  # The authors' TF1 code choices, one switch each (gil_jax/authors/); all
  # off = the paper's method.  Their sequence placeholder is ``placeholder="3max"``.
  c.authors = ml_collections.ConfigDict({
      "batch_norm": False,             # BN in training mode, gated (per-example)
      "l2": 0.0,                       # L2 inside the per-example loss (0.02)
      "reward_before_update": False,   # batch reward before the update, shared
      "one_draw_per_batch": False,     # one behaviour-policy mode per batch
      "near_one_random": False,        # random actions near 1 only
      "rl_lr_decay": False,            # actor/critic rates x0.965 every 10 steps
      "bn_eval_rows": 1024,            # training rows of the precise-BN statistics
  })
  # App. D eq. (42), tabular defaults of the authors' code.
  c.exploration = ml_collections.ConfigDict({
      "p2": 0.5, "p3": 0.4, "decay": 0.999, "p2_floor": 0.3, "p3_floor": 0.2,
      "sigma": 0.2})
  return c


# The tables with natural missingness (docs/results/tables.md): one setting, shared.
TABLE_METHODS = ("gil", "mean", "mean_mask", "mice", "hgb", "logreg")


def table_config(dataset: str) -> ml_collections.ConfigDict:
  """A table of ``data_prep/uci_tables.py``: standardised inputs, MLP 256-256,
  2,000 steps, selection on validation AUROC, MICE 5 rounds x 20 features."""
  c = base_config()
  c.dataset = dataset
  c.data = ml_collections.ConfigDict()
  c.split.val_fraction = 0.1
  c.scaling = "standardize"
  c.methods = TABLE_METHODS
  c.seeds = (0, 1, 2, 3, 4)
  c.imputer_options.mice = {"max_iter": 5, "n_nearest_features": 20,
                            "max_fit_rows": 10000, "clip": True}
  # MIWAE scaled to the 2-core machine (docs/results/tables.md): 3,000 steps, 100
  # importance samples per imputed row.
  c.imputer_options.miwae = {"num_steps": 3000, "num_samples": 100}
  c.train.hidden = (256, 256)
  c.train.num_steps = 2000
  c.train.eval_every = 100
  c.train.selection_metric = "auroc"
  return c
