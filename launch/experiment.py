"""Runs an experiment config: data -> methods x seeds -> results.json and a table.

``results.json`` schema (stable; reports and other tools read it)::

  {
    "config": {...},                 # the ConfigDict as a dict
    "dataset": str,
    "num_classes": int,
    "data_summary": {...},           # rows per split, missing rates, dropped columns
    "feature_names": [str],          # the variables, in the models' input order
    "runs": [{"seed": int, ("mask_seed": int), ("split_seed": int),
              ("fold": int)}],       # per_seed order
    ("cv_folds": int, "cv_test_rows": [int]),   # only with config.cv_folds
    "methods": {
      METHOD: {                      # gil, gil_h, zero, mean, ...
        "test": {METRIC: {"mean": float, "std": float, "per_seed": [float],
                          ("per_fold": [float], "fold_std": float)}},
        "val":  {... same ...},
        "best_step": [int],          # step of the best-on-validation parameters
                                     # (boosting iterations for hgb)
        "wall_seconds": float,       # all seeds of this method, compile included
        "transform_seconds": float,  # of which imputation / data transforms
        ("test_selected": {          # only with config.train.track_test: the
          SELECTION_METRIC: {...},   # best TEST score over the evals and its step,
          "step": [int]}),           # i.e. the authors' protocol (optimistic;
      }                              # a diagnostic, never our result)
    }
  }

A run's best-on-validation predictor parameters (and, for GIL, the final actor)
are saved with orbax under ``WORKDIR/models/METHOD`` (one stacked array per leaf,
runs on the first axis; see :func:`save_models` / :func:`load_models`) for
``launch.evaluate`` and ``launch.figures``.  What scikit-learn fitted (gradient
boosting with its inputs' description and scaling; the imputers fitted on each
training split) is saved with skops under ``WORKDIR/fitted/METHOD``
(:func:`save_fitted` / :func:`load_fitted`).

METRIC is ``accuracy``, ``auroc`` and, for binary tasks, ``auprc``, as fractions in
[0, 1].  ``per_seed`` lists one value per run, in the order of ``runs`` (seeds, or
mask seeds x seeds when ``config.mask_seeds`` is set); ``std`` is the sample standard
deviation over those runs (ddof=1; 0 for one run).
Test metrics are always those of the best-on-validation parameters.
"""

from __future__ import annotations

import copy
import json
import os
import time
from typing import Any, Callable

import jax
import ml_collections
import numpy as np
from absl import logging

from data_prep import csv_sequences
from data_prep import physionet2012
from data_prep import physionet2019
from data_prep import tabular
from data_prep import uci_tables
from gil_jax import authors_mode
from gil_jax import checkpoint as ckpt_lib
from gil_jax import data as data_lib
from gil_jax import folds as folds_lib
from gil_jax.methods import METHODS, MethodSpec, method_spec, transform  # noqa: F401 (re-exported)
from gil_jax.methods import transform_fitted
from gil_jax.baselines import persist
from gil_jax import policy as policy_lib
from gil_jax import train as train_lib
from gil_jax.baselines import boosting
from gil_jax.baselines import imputers
from gil_jax.baselines import input_space
from launch import resume as resume_lib
from launch import validation
from gil_jax.baselines import linear

# Loaders return a RawTabular (split into train/val/test by the config) or a
# (train, test) pair of them (validation carved from train; the given test set kept).
DATASETS: dict[str, Callable[..., Any]] = {
    "digits": tabular.load_digits,
    "mnist": tabular.load_mnist,
    "physionet2012": physionet2012.load_sequences,
    # Early sepsis windows (data.protocol: varied / fixed), PhysioNet 2019 set A.
    "physionet2019": physionet2019.load_sequences,
    "toy_sequences": tabular.load_toy_sequences,
    # Sequences in the GIL authors' CSV layout (data.directory=...): the files'
    # own train/[val]/test splits ({split: RawSequences}), or pooled and split by
    # the config (one split, or data.pool=True).
    "csv_sequences": csv_sequences.load_csv_dataset,
    # Public tables with natural missingness (data_prep/uci_tables.py).
    "thyroid0387": uci_tables.load_thyroid0387,
    "diabetes130": uci_tables.load_diabetes130,    # grouped by patient
    "adult": uci_tables.load_adult,                # official (train, test)
}
# Methods fitted by scikit-learn instead of a JAX trainer: (prepared, seed,
# selection_metric) -> a result with best_step / val / test.
CUSTOM_FITTERS: dict[str, Callable[..., Any]] = {"hgb": boosting.fit,
                                                 "logreg": linear.fit}
# The loader argument naming a folder of raw files in the dataset's own format
# (``launch.evaluate --data_dir`` sets it to score a model on another set).
RAW_DATA_ARG = {"physionet2012": "manual_dir", "mnist": "manual_dir",
                "csv_sequences": "directory"}


def load_data(config: ml_collections.ConfigDict, mask_seed: int | None = None,
              split_seed: int | None = None, fold: int | None = None
              ) -> data_lib.Prepared:
  """The config's dataset, prepared; the seeds override the config's when given.

  With ``fold`` (``config.cv_folds`` cross-validation) all of the loader's rows are
  pooled and fold ``fold`` of ``config.cv_folds`` stratified folds (drawn with the
  split seed) is the test split (:mod:`gil_jax.folds`).
  """
  if config.dataset not in DATASETS:
    raise ValueError(f"unknown dataset {config.dataset!r}; known: {sorted(DATASETS)}")
  kwargs = config.data.to_dict()
  if mask_seed is not None:
    kwargs["mask_seed"] = mask_seed
  if split_seed is None:
    split_seed = config.split.split_seed
  raw = DATASETS[config.dataset](**kwargs)
  if fold is not None:
    return _fold_data(config, raw, fold, split_seed)
  if isinstance(raw, dict):     # the files' own splits (csv_sequences)
    pooled, indices = csv_sequences.given_splits(
        raw, val_fraction=config.split.val_fraction, split_seed=split_seed)
    return data_lib.prepare_sequences(pooled, indices=indices,
                                      placeholder=config.placeholder)
  if isinstance(raw, data_lib.RawSequences):
    return data_lib.prepare_sequences(
        raw, val_fraction=config.split.val_fraction,
        test_fraction=config.split.test_fraction, split_seed=split_seed,
        placeholder=config.placeholder)
  raw, test = (raw, None) if isinstance(raw, data_lib.RawTabular) else raw
  prepared = data_lib.prepare_tabular(
      raw, test=test, val_fraction=config.split.val_fraction,
      test_fraction=config.split.test_fraction, split_seed=split_seed,
      scaling=config.scaling, placeholder=config.placeholder,
      drop_all_missing_columns=config.drop_all_missing_columns)
  return training_subset(prepared, config.split.get("train_rows", 0), split_seed)


def training_subset(prepared: data_lib.Prepared, rows: int,
                    seed: int) -> data_lib.Prepared:
  """``prepared`` with ``rows`` of its training rows (drawn with ``seed``, the same
  for every mask seed and method); ``rows = 0`` keeps them all.  Validation, test
  and the statistics learned from the training split are unchanged: a cheaper
  experiment (memory, per-eval passes), not another preparation."""
  if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
    raise ValueError(f"config.split.train_rows must be an integer >= 0 (0 = all "
                     f"training rows), got {rows!r}")
  n = len(prepared.train.y)
  if not rows or rows >= n:
    return prepared
  idx = np.sort(np.random.default_rng(seed).choice(n, rows, replace=False))
  summary = dict(prepared.summary)
  summary["rows"] = {**summary["rows"], "train": int(rows), "train_before_subset": n}
  return prepared._replace(train=jax.tree.map(lambda v: v[idx], prepared.train),
                           summary=summary)


def cv_folds_of(config: ml_collections.ConfigDict) -> int:
  """``config.cv_folds`` (0 = no cross-validation), checked."""
  k = config.get("cv_folds", 0) or 0
  if isinstance(k, bool) or not isinstance(k, int) or k == 1 or k < 0:
    raise ValueError(f"config.cv_folds must be 0 (off) or an integer >= 2, got "
                     f"{k!r}")
  return k


def _fold_data(config: ml_collections.ConfigDict, raw, fold: int,
               split_seed: int) -> data_lib.Prepared:
  """Fold ``fold`` of the pooled rows as test split; validation carved from the
  others (stratified, ``config.split.val_fraction`` of them)."""
  k = cv_folds_of(config)
  if isinstance(raw, dict):                       # the files' splits: pool them
    raw = csv_sequences.pool_splits(raw)[0]
  elif not isinstance(raw, (data_lib.RawSequences, data_lib.RawTabular)):
    train, test = raw                             # (train, test) tables
    groups = [getattr(r, "groups", None) for r in (train, test)]
    extra = ({"groups": np.concatenate(groups)}
             if all(g is not None for g in groups) else {})
    raw = train._replace(x=np.concatenate([train.x, test.x]),
                         y=np.concatenate([train.y, test.y]), **extra)
  if isinstance(raw, data_lib.RawSequences):
    indices = folds_lib.fold_indices(raw.y, k, fold,
                                     val_fraction=config.split.val_fraction,
                                     seed=split_seed)
    return data_lib.prepare_sequences(raw, indices=indices,
                                      placeholder=config.placeholder)
  groups = getattr(raw, "groups", None)
  test = folds_lib.stratified_folds(raw.y, k, split_seed, groups=groups)[fold]
  rest = np.setdiff1d(np.arange(len(raw.y)), test)

  def rows(idx):
    extra = {} if groups is None else {"groups": groups[idx]}
    return raw._replace(x=raw.x[idx], y=raw.y[idx], **extra)
  return data_lib.prepare_tabular(
      rows(rest), test=rows(test), val_fraction=config.split.val_fraction,
      split_seed=split_seed, scaling=config.scaling,
      placeholder=config.placeholder,
      drop_all_missing_columns=config.drop_all_missing_columns)


def train_config(config: ml_collections.ConfigDict,
                 method: str) -> train_lib.TrainConfig:
  """The :class:`TrainConfig` of a launcher method (see :data:`METHODS`)."""
  spec = method_spec(method)
  kwargs = config.train.to_dict()
  for key in validation.WIDTH_FIELDS:
    # Configs written before meta_hidden existed lack it: their gil_meta ran at
    # 400-300, and TrainConfig's default is now 128 (no tool rebuilds gil_meta's
    # network from a saved config).
    if key in kwargs:
      kwargs[key] = tuple(kwargs[key])
  if spec.model is not None:
    kwargs["model"] = spec.model
  # Configs written before the authors' switches existed have no ``authors``.
  authors = config.get("authors")
  return train_lib.TrainConfig(
      method=spec.trainer_method,
      exploration=policy_lib.Exploration(**config.exploration.to_dict()),
      authors=authors_mode.AuthorsMode(
          **({} if authors is None else authors.to_dict())), **kwargs)


def make_trainer(config: ml_collections.ConfigDict, method: str,
                 num_features: int, num_classes: int) -> train_lib.Trainer:
  """The trainer of a launcher method (its own for the App. G ablation)."""
  tcfg = train_config(config, method)
  if method_spec(method).custom == "input_space":
    if tcfg.authors.changes_predictor:
      raise ValueError("the input-space ablation has its own predictor; run it "
                       "without authors.batch_norm / authors.l2")
    return input_space.make_input_space_trainer(tcfg, num_features, num_classes)
  return train_lib.make_trainer(tcfg, num_features, num_classes)


def save_models(workdir: str, method: str, fits, scalers=None,
                train_means=None) -> None:
  """Saves the runs' best parameters (GIL's actors, data scalers) with orbax."""
  import orbax.checkpoint as ocp  # local: only saving and loading need it
  tree = {"params": jax.tree.map(lambda *v: np.stack(v), *[f.params for f in fits])}
  if fits[0].actor_params is not None:
    tree["actor"] = jax.tree.map(lambda *v: np.stack(v),
                                 *[f.actor_params for f in fits])
  if scalers is not None and scalers[0] is not None:
    tree["scaler"] = {"shift": np.stack([s[0] for s in scalers]),
                      "scale": np.stack([s[1] for s in scalers])}
  if train_means is not None:
    tree["train_mean"] = np.stack(train_means)
  path = os.path.join(os.path.abspath(workdir), "models", method)
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(path, tree, force=True)


# scikit-learn's OpenMP/BLAS threads while this process also runs XLA: one.
# Measured in a process holding JAX, PhysioNet 2012 protocol (a), one hgb fit (4
# grid points), 2 cores at load 16-23: 299 s and 570 s wall (90 s / 125 s of CPU,
# OpenMP threads spinning) with scikit-learn's default of 2 threads, 18 s and 32 s
# (4.8 s / 4.7 s of CPU) with 1; same model.  Override with the environment variable
# GIL_SKLEARN_THREADS (e.g. on a large idle machine).
SKLEARN_THREADS = int(os.environ.get("GIL_SKLEARN_THREADS", "1"))


def sklearn_threads():
  """Context bounding scikit-learn's thread pools to :data:`SKLEARN_THREADS`."""
  from threadpoolctl import threadpool_limits  # local: only fitting needs it
  return threadpool_limits(limits=SKLEARN_THREADS)


def _custom_state(spec: MethodSpec, fit, prepared: data_lib.Prepared) -> dict:
  """What ``launch.evaluate`` needs to score a scikit-learn fitted method on
  another set: the model, how its inputs are made, the training scaling."""
  sequences = prepared.train.length is not None
  names = list(prepared.feature_names)
  if spec.custom == "hgb":
    inputs, feature_names = "boosting", boosting.feature_names(names, sequences)
  else:
    inputs, feature_names = "x", None
  state = {"model": fit.model, "inputs": inputs, "feature_names": feature_names,
           "setting": dict(fit.setting), "train_mean": prepared.train_mean}
  if prepared.scaler is not None:
    state["scaler"] = {"shift": prepared.scaler[0], "scale": prepared.scaler[1]}
  return state


def save_fitted(workdir: str, method: str, per_run: list) -> None:
  """Saves what scikit-learn fitted for each run (gradient boosting, imputers)
  under ``WORKDIR/fitted/METHOD`` (skops; see :mod:`gil_jax.baselines.persist`)."""
  persist.save_runs(os.path.join(os.path.abspath(workdir), "fitted", method),
                    per_run, method=method)


def load_fitted(workdir: str, method: str) -> list:
  """Per run, what :func:`save_fitted` saved."""
  path = os.path.join(os.path.abspath(workdir), "fitted", method)
  if not os.path.isdir(path):
    raise data_lib.DataFileNotFoundError(
        f"no saved fitted models for method {method!r} in {workdir!r} (expected "
        f"{path}); was the run made before scikit-learn models were saved?")
  return persist.load_runs(path)[0]


def load_models(workdir: str, method: str) -> dict:
  """``{"params": ..., ["actor": ...], ["scaler": ...]}``, runs on the first axis."""
  import orbax.checkpoint as ocp
  path = os.path.join(os.path.abspath(workdir), "models", method)
  if not os.path.isdir(path):
    raise data_lib.DataFileNotFoundError(
        f"no saved models for method {method!r} in {workdir!r} (expected {path}); "
        "was the run finished with this version of launch.train?")
  with ocp.StandardCheckpointer() as ckptr:
    return jax.tree.map(np.asarray, ckptr.restore(path))


def load_results(workdir: str) -> dict:
  path = data_lib.require_file(os.path.join(workdir, "results.json"),
                               "results file of a finished run")
  with open(path) as f:
    return json.load(f)


def merge_results(parts: list[tuple[str, dict]]) -> dict:
  """One results dict from runs of one setting whose methods ran apart.

  ``parts`` are ``(name, results)`` pairs with the same dataset and runs (mask
  seeds, seeds) and no method twice.  The merged ``config`` is the first part's
  with the union of ``methods``; every part's own config is kept under
  ``merged_from`` (with its name and methods), so nothing is lost.  A part that is
  itself a merged file contributes its sources, so a setting can be merged again
  when more methods have run.
  """
  if not parts:
    raise ValueError("nothing to merge")
  first_name, first = parts[0]
  merged = copy.deepcopy(first)
  merged["methods"] = {}
  merged["merged_from"] = []
  for name, res in parts:
    for key in ("dataset", "runs"):
      if res[key] != first[key]:
        raise ValueError(f"cannot merge {name} with {first_name}: different "
                         f"{key}")
    twice = set(res["methods"]) & set(merged["methods"])
    if twice:
      raise ValueError(f"method(s) {sorted(twice)} in more than one file "
                       f"({name} and an earlier one)")
    merged["methods"].update(copy.deepcopy(res["methods"]))
    # A part that is itself a merge contributes its own sources (flat list).
    merged["merged_from"].extend(res.get("merged_from") or [
        {"file": name, "methods": list(res["methods"]), "config": res["config"]}])
  merged["config"]["methods"] = list(merged["methods"])
  return merged


def summarise(per_seed: list[dict[str, float]],
              runs: list[dict] | None = None) -> dict:
  """``{METRIC: {"mean", "std", "per_seed"}}`` over runs.

  With cross-validation runs (``runs`` carrying ``"fold"``), each metric also gets
  ``"per_fold"``: the mean over each fold's runs (its seeds, mask seeds), in fold
  order, and ``"fold_std"``: their sample std (the spread over folds).
  """
  out = {}
  for metric in per_seed[0]:
    values = np.array([r[metric] for r in per_seed], np.float64)
    out[metric] = {"mean": float(np.mean(values)),
                   "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                   "per_seed": [float(v) for v in values]}
    if runs and "fold" in runs[0]:
      fold_of = np.array([r["fold"] for r in runs])
      per_fold = [float(values[fold_of == k].mean()) for k in np.unique(fold_of)]
      out[metric]["per_fold"] = per_fold
      out[metric]["fold_std"] = (float(np.std(per_fold, ddof=1))
                                 if len(per_fold) > 1 else 0.0)
  return out


def test_selected(fits, metric: str) -> dict:
  """The authors' protocol, for comparison only: each run's best TEST score over
  its evals (``history["test_score"]``) and the step where it occurred."""
  best = [int(np.argmax(f.history["test_score"])) for f in fits]
  out = summarise([{metric: float(f.history["test_score"][i])}
                   for f, i in zip(fits, best)])
  out["step"] = [int(f.history["step"][i]) for f, i in zip(fits, best)]
  return out


def format_table(results: dict, split: str = "test") -> str:
  """Method x metric table, ``mean +/- std`` in percent.

  A method that is the same computation as another in the table is marked so
  (``gil_h (= zero)``, see :func:`one_computation`).
  """
  methods = results["methods"]
  same = one_computation(results.get("config", {}), list(methods))
  metrics = list(next(iter(methods.values()))[split])
  header = "| method | " + " | ".join(metrics) + " | seconds |"
  rule = "| --- " * (len(metrics) + 2) + "|"
  rows = [header, rule]
  for name, res in methods.items():
    cells = [f"{100 * res[split][m]['mean']:.2f} +/- {100 * res[split][m]['std']:.2f}"
             for m in metrics]
    label = f"{name} ({same[name]})" if name in same else name
    rows.append(f"| {label} | " + " | ".join(cells)
                + f" | {res['wall_seconds']:.0f} |")
  return "\n".join(rows)


def one_computation(config: dict, methods: list[str]) -> dict[str, str]:
  """``{method: "= other"}`` for methods in ``methods`` that compute what another
  one does, from the config alone.

  With a numeric placeholder of 0, ``x * m == x``: GIL-H's encoder gradient is
  zero imputation's (docs/methods.md); with ``standardize`` or ``center``
  scaling the placeholder 0 is also each column's observed training mean, so mean
  imputation fills the same values up to float rounding (``~``).  The first of
  ``zero``, ``mean``, ``gil_h`` in the table is the reference.  Under the authors'
  batch norm or weight decay (``config.authors``) GIL-H differs from zero.
  """
  placeholder = config.get("placeholder")
  if isinstance(placeholder, str) or placeholder != 0:
    return {}
  group = ["zero", "gil_h"]
  authors = config.get("authors") or {}
  if authors.get("batch_norm") or authors.get("l2", 0) > 0:
    # The authors' BN / weight decay are gated by a = m: GIL-H differs (authors_mode).
    group.remove("gil_h")
  if config.get("scaling") in ("standardize", "center"):
    group.insert(1, "mean")
  present = [m for m in group if m in methods]
  if len(present) < 2:
    return {}
  first = present[0]
  rounding = lambda m: "mean" in (m, first)
  return {m: f"{'~' if rounding(m) else '='} {first}" for m in present[1:]}


def _progress_logger(method: str, n_runs: int) -> Callable[[dict], None]:
  def log(p):
    done = p["step"] / p["num_steps"]
    # Steps trained in this process (a resumed run restored the others).
    rate = (p["step"] - p.get("start_step", 0)) / max(p["seconds"], 1e-9)
    eta = (p["num_steps"] - p["step"]) / max(rate, 1e-9)
    logging.info("[%s x%d runs] step %d/%d (%.0f%%)  loss %.4f  val %.4f  best %.4f "
                 "(means over runs)  %s steps/s  ETA %.0fs", method, n_runs,
                 p["step"], p["num_steps"], 100 * done, np.mean(p["loss"]),
                 np.mean(p["val_score"]), np.mean(p["best_score"]),
                 significant(rate), eta)
  return log


def significant(value: float, digits: int = 2) -> str:
  """``value`` to ``digits`` significant digits, without an exponent (0.0031,
  0.55, 12, 3400): a slow run's rate is never printed as 0."""
  if value == 0 or not np.isfinite(value):
    return f"{value:g}"
  decimals = digits - 1 - int(np.floor(np.log10(abs(value))))
  return f"{round(value, decimals):.{max(decimals, 0)}f}"


def write_history(workdir: str, method: str, runs: list[dict], fits) -> None:
  """Per-eval history as CSV and TensorBoard event files (one run per folder)."""
  from tensorboardX import SummaryWriter  # local: only the launcher writes events
  keys = sorted(fits[0].history)
  cols = list(runs[0])
  with open(os.path.join(workdir, f"history_{method}.csv"), "w") as f:
    f.write(",".join(cols + keys) + "\n")
    for run, fit in zip(runs, fits):
      for row in zip(*(fit.history[k] for k in keys)):
        f.write(",".join([str(run[c]) for c in cols]
                         + [f"{float(v):.6g}" for v in row]) + "\n")
  for run, fit in zip(runs, fits):
    name = "_".join(f"{c}_{run[c]}" for c in cols)
    with SummaryWriter(os.path.join(workdir, "tensorboard", method, name)) as writer:
      for i, step in enumerate(fit.history["step"]):
        for k in keys:
          if k != "step":
            writer.add_scalar(k, float(fit.history[k][i]), int(step))


def run(config: ml_collections.ConfigDict, workdir: str, *, resume: bool = False,
        profile_dir: str | None = None, results_path: str | None = None) -> dict:
  """Trains every method of ``config`` over its seeds; writes ``workdir/results.json``.

  The seeds of one method run as one vmapped program, sharded over all local devices
  when there are several.  With ``config.checkpoint_every_call`` the full state is
  checkpointed under ``workdir/checkpoints/METHOD`` and ``resume`` continues it.
  ``results_path`` replaces ``workdir/results.json`` (``launch.sweep`` runs each
  method of a setting as its own task, all in one workdir).  Across processes
  (``jax.distributed``) all of them train and only process 0 writes files.
  """
  # Bad values and an unusable workdir fail before any data or training.
  validation.check_config(config, DATASETS)
  validation.check_workdir(workdir)
  if resume and not config.checkpoint_every_call:
    raise ValueError("resume needs config.checkpoint_every_call (nothing is saved "
                     "to resume from without it)")
  mask_seeds, split_seeds = list(config.mask_seeds), list(config.split_seeds)
  # K-fold cross-validation: each fold is a dataset (x mask seeds x split seeds).
  fold_ids = list(range(cv_folds_of(config)))
  if mask_seeds or split_seeds or fold_ids:
    # One dataset per mask seed / split seed / fold; every method sees the same
    # masks and splits.  Runs of a method whose data have equal shapes train as
    # one vmapped program (folds of unequal size in a few such groups).
    variants = [dict(([("mask_seed", m)] if m is not None else [])
                     + ([("split_seed", p)] if p is not None else [])
                     + ([("fold", k)] if k is not None else []))
                for m in (mask_seeds or [None]) for p in (split_seeds or [None])
                for k in (fold_ids or [None])]
    data = [load_data(config, **v) for v in variants]
    runs = [dict(v, seed=s) for v in variants for s in config.seeds]
    prepared = [d for d in data for _ in config.seeds]
    s = data[0].summary
  else:
    runs = [{"seed": s} for s in config.seeds]
    prepared = load_data(config)
    s = prepared.summary
  logging.info("data %s: rows %s, features %d, missing rate %s, all-missing rows %s, "
               "dropped columns %s", config.dataset, s["rows"], s["features"],
               {k: round(v, 4) for k, v in s["missing_rate"].items()},
               s["all_missing_rows"], s["dropped_columns"])
  first = data[0] if mask_seeds or split_seeds or fold_ids else prepared
  results = {"config": config.to_dict(), "dataset": config.dataset,
             "num_classes": first.num_classes, "data_summary": s,
             # launch.evaluate matches another set's variables by these names.
             "feature_names": list(first.feature_names), "runs": runs,
             "methods": {}}
  if fold_ids:
    # Folds vary fastest in ``data``: the first K datasets are one partition.
    results["cv_folds"] = len(fold_ids)
    results["cv_test_rows"] = [d.summary["rows"]["test"]
                               for d in data[:len(fold_ids)]]
    logging.info("%d-fold cross-validation: test rows per fold %s", len(fold_ids),
                 results["cv_test_rows"])
  # All processes' devices: one device per host still shards over the hosts.
  mesh = train_lib.runs_mesh() if jax.device_count() > 1 else None
  if mesh is not None:
    logging.info("sharding runs over %d devices (%d processes)", mesh.devices.size,
                 jax.process_count())
  primary = jax.process_index() == 0
  results_path = results_path or os.path.join(workdir, "results.json")
  seeds = [r["seed"] for r in runs]
  imputer_options = config.get("imputer_options", ml_collections.ConfigDict())
  # What a checkpoint must agree on besides the trainer's own fingerprint (see
  # launch/resume.py): the config's data fields and the data themselves.
  fingerprint = None
  if config.checkpoint_every_call:
    fingerprint = {"experiment": resume_lib.run_fingerprint(config),
                   "data_digest": ckpt_lib.data_digest(
                       *[(p.train, p.val, p.test) for p in
                         (data if mask_seeds or split_seeds or fold_ids
                          else [prepared])])}
  for method in config.methods:
    spec = method_spec(method)
    start = time.perf_counter()
    logging.info("[%s] start: %d run(s)%s", method, len(seeds),
                 "" if spec.custom in CUSTOM_FITTERS
                 else f", {config.train.num_steps} steps each")
    # Transform each distinct dataset once (runs of one mask seed share it).
    cache: dict[int, data_lib.Prepared] = {}
    fitted: dict[int, dict] = {}    # the imputers fitted on each dataset
    shared = not isinstance(prepared, list)
    datasets = [prepared] if shared else prepared
    for i, p in enumerate(datasets):
      if id(p) not in cache:
        t0 = time.perf_counter()
        with sklearn_threads():
          cache[id(p)], fitted[id(p)] = transform_fitted(
              p, spec.transforms, imputer_options=imputer_options.to_dict())
        if spec.transforms:
          logging.info("[%s] transformed dataset %d/%d (%s) in %.1f s", method,
                       i + 1, len(datasets), "+".join(spec.transforms),
                       time.perf_counter() - t0)
    # data_m: what fit_many takes (one dataset, or one per run); per_run: a list.
    data_m = cache[id(prepared)] if shared else [cache[id(p)] for p in prepared]
    per_run = [data_m] * len(seeds) if shared else data_m
    transform_seconds = time.perf_counter() - start
    mse = _imputation_mse(config, spec, variants_of(runs), per_run)
    if spec.custom in CUSTOM_FITTERS:
      with sklearn_threads():
        fits = [CUSTOM_FITTERS[spec.custom](p, seed, config.train.selection_metric)
                for p, seed in zip(per_run, seeds)]
      if primary:
        save_fitted(workdir, method, [_custom_state(spec, f, p)
                                      for f, p in zip(fits, per_run)])
    else:
      trainer = make_trainer(config, method, per_run[0].train.x.shape[-1],
                             per_run[0].num_classes)
      # Runs whose data differ in shape (K folds of unequal size) cannot be
      # stacked: each group of equal shapes is one vmapped program.
      groups = ([list(range(len(seeds)))] if shared
                else folds_lib.equal_shape_groups(per_run))
      fits = [None] * len(seeds)
      for g, idx in enumerate(groups):
        ckpt_dir = (resume_lib.checkpoint_dir(workdir, method)
                    if config.checkpoint_every_call else None)
        if ckpt_dir is not None and len(groups) > 1:
          ckpt_dir = os.path.join(ckpt_dir, f"shape_group_{g}")
        saved = ckpt_dir is not None and bool(ckpt_lib.saved_steps(ckpt_dir))
        if resume and not saved:
          logging.warning("[%s] --resume: no checkpoint of this method in %s; "
                          "training it from step 0", method, ckpt_dir)
        group_fits = train_lib.fit_many(
            trainer.config, data_m if shared else [data_m[i] for i in idx],
            [seeds[i] for i in idx],
            progress=_progress_logger(method, len(idx)),
            steps_per_call=config.steps_per_call, mesh=mesh,
            checkpoint_dir=ckpt_dir, resume=resume and saved,
            fingerprint_extra=(None if fingerprint is None
                               else dict(fingerprint, method=method)),
            on_resume=lambda step, method=method: logging.info(
                "resumed %s from step %d (of %d)", method, step,
                config.train.num_steps),
            profile_dir=None if profile_dir is None else os.path.join(
                profile_dir, method),
            trainer=trainer)
        for i, fit in zip(idx, group_fits):
          fits[i] = fit
      if primary and any(fitted.values()):
        # One file per distinct dataset (the seeds of a dataset share it).
        states = {i: {"imputers": {k: imputers.to_state(v) for k, v in f.items()}}
                  for i, f in fitted.items()}
        save_fitted(workdir, method, [states[id(p)] for p in
                                      ([prepared] * len(seeds) if shared
                                       else prepared)])
      if primary:
        write_history(workdir, method, runs, fits)
      # Every process calls orbax (it synchronises them); only process 0 writes.
      save_models(workdir, method, fits, [p.scaler for p in per_run],
                  [p.train_mean for p in per_run])
    for run, fit in zip(runs, fits):
      logging.info("[%s %s] best step %d  val %s  test %s", method, run,
                   fit.best_step, fit.val, fit.test)
    results["methods"][method] = {
        "test": summarise([f.test for f in fits], runs),
        "val": summarise([f.val for f in fits], runs),
        "best_step": [f.best_step for f in fits],
        "wall_seconds": time.perf_counter() - start,
        "transform_seconds": transform_seconds,
    }
    if mse is not None:
      results["methods"][method]["imputation_mse"] = mse
    if "test_score" in (getattr(fits[0], "history", None) or {}):   # not hgb
      results["methods"][method]["test_selected"] = test_selected(
          fits, config.train.selection_metric)
    if primary:
      write_json(results, results_path)
    done = results["methods"][method]
    logging.info("[%s] done in %.0f s: test %s", method, done["wall_seconds"],
                 ", ".join(f"{k} {100 * v['mean']:.2f} +/- {100 * v['std']:.2f}"
                           for k, v in done["test"].items()))
  return results


def grid_settings(config, workdir: str) -> list:
  """``[(config, workdir)]``: one per value of ``config.grid``, or the config."""
  field, values = config.grid.field, tuple(config.grid.settings)
  if values and not field:
    raise ValueError("config.grid.settings is set but config.grid.field is empty")
  if not values:      # no grid (e.g. --config.grid.settings='()' for one setting)
    return [(config, workdir)]
  *parents, leaf = field.split(".")
  out = []
  for value in values:
    cfg = copy.deepcopy(config)
    node = cfg
    for part in parents:
      node = node[part]
    if leaf not in node:
      raise ValueError(f"config.grid.field {field!r} names no config field")
    with cfg.unlocked():
      node[leaf] = value
      cfg.grid.field, cfg.grid.settings = "", ()
    out.append((cfg, os.path.join(workdir, f"{leaf}_{value}")))
  return out


def variants_of(runs: list[dict]) -> list[dict]:
  """Each run's mask seed / split seed (its dataset), without the training seed."""
  return [{k: v for k, v in r.items() if k != "seed"} for r in runs]


def _imputation_mse(config, spec: MethodSpec, variants: list[dict],
                    per_run: list) -> dict | None:
  """Test-split imputation MSE against the complete data (paper Table 4).

  Only where the truth is known: a loader with a ``missing_rate`` (simulated
  masks).  The error is in the loader's raw units: scaled imputations are mapped
  back with the run's training scaler and compared with the complete, unscaled
  data.  Methods that fill the inputs: imputers, ``mean`` and ``zero`` (the
  placeholder is its imputation).
  """
  fills = spec.transforms or (("zero",) if spec.trainer_method in ("zero", "gil_h")
                              and spec.custom is None and spec.model is None else ())
  if spec.trainer_method == "mean" and not spec.transforms:
    fills = ("mean",)
  if (not fills or "missing_rate" not in config.data
      or any(f in ("carry_forward", "mask_features") for f in fills)):
    return None
  mses = []
  complete: dict[tuple, data_lib.Prepared] = {}
  for v, p in zip(variants, per_run):
    key = tuple(sorted(v.items()))
    if key not in complete:
      cfg = copy.deepcopy(config)
      with cfg.unlocked():
        cfg.data.missing_rate = 0.0
        cfg.scaling = "none"
      complete[key] = load_data(cfg, **v)
    test = p.test
    x = (data_lib.mean_imputed(test, p.train_mean).x if fills == ("mean",)
         else test.x)
    if p.scaler is not None:
      shift, scale = p.scaler
      x = x * scale + shift
    full = complete[key]
    # Columns dropped as all-missing in training (drop_all_missing_columns) are
    # absent from the run's data: compare on the columns it kept.
    cols = [full.feature_names.index(n) for n in p.feature_names]
    mses.append(imputers.imputation_mse(x, full.test.x[..., cols], test.m))
  return summarise([{"mse": m} for m in mses])["mse"]


def write_json(obj, path):
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=2, default=_json_default)
  os.replace(tmp, path)


def _json_default(o):
  if isinstance(o, (np.integer,)):
    return int(o)
  if isinstance(o, (np.floating,)):
    return float(o)
  if isinstance(o, (tuple, np.ndarray)):
    return list(o)
  raise TypeError(f"not JSON serialisable: {type(o)}")
