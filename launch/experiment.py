"""Runs an experiment config: data -> methods x seeds -> results.json and a table.

``results.json`` schema (stable; reports and other tools read it)::

  {
    "config": {...},                 # the ConfigDict as a dict
    "dataset": str,
    "num_classes": int,
    "data_summary": {...},           # rows per split, missing rates, dropped columns
    "runs": [{"seed": int, ("mask_seed": int), ("split_seed": int)}],  # per_seed order
    "methods": {
      METHOD: {                      # gil, gil_h, zero, mean, ...
        "test": {METRIC: {"mean": float, "std": float, "per_seed": [float]}},
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
``launch.evaluate`` and ``launch.figures``.

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
from data_prep import tabular
from gil_jax import data as data_lib
from gil_jax.methods import METHODS, MethodSpec, method_spec, transform  # noqa: F401 (re-exported)
from gil_jax import policy as policy_lib
from gil_jax import train as train_lib
from gil_jax.baselines import boosting
from gil_jax.baselines import imputers
from gil_jax.baselines import input_space

# Loaders return a RawTabular (split into train/val/test by the config) or a
# (train, test) pair of them (validation carved from train; the given test set kept).
DATASETS: dict[str, Callable[..., Any]] = {
    "digits": tabular.load_digits,
    "mnist": tabular.load_mnist,
    "physionet2012": physionet2012.load_sequences,
    "toy_sequences": tabular.load_toy_sequences,
    # Sequences in the GIL authors' CSV layout (data.directory=...), pooled and
    # split by the config like any other dataset.
    "csv_sequences": csv_sequences.load_csv_pooled,
}
# The loader argument naming a folder of raw files in the dataset's own format
# (``launch.evaluate --data_dir`` sets it to score a model on another set).
RAW_DATA_ARG = {"physionet2012": "manual_dir", "mnist": "manual_dir",
                "csv_sequences": "directory"}


def load_data(config: ml_collections.ConfigDict, mask_seed: int | None = None,
              split_seed: int | None = None) -> data_lib.Prepared:
  """The config's dataset, prepared; the seeds override the config's when given."""
  if config.dataset not in DATASETS:
    raise ValueError(f"unknown dataset {config.dataset!r}; known: {sorted(DATASETS)}")
  kwargs = config.data.to_dict()
  if mask_seed is not None:
    kwargs["mask_seed"] = mask_seed
  if split_seed is None:
    split_seed = config.split.split_seed
  raw = DATASETS[config.dataset](**kwargs)
  if isinstance(raw, data_lib.RawSequences):
    return data_lib.prepare_sequences(
        raw, val_fraction=config.split.val_fraction,
        test_fraction=config.split.test_fraction, split_seed=split_seed,
        placeholder=config.placeholder)
  raw, test = (raw, None) if isinstance(raw, data_lib.RawTabular) else raw
  return data_lib.prepare_tabular(
      raw, test=test, val_fraction=config.split.val_fraction,
      test_fraction=config.split.test_fraction, split_seed=split_seed,
      scaling=config.scaling, placeholder=config.placeholder,
      drop_all_missing_columns=config.drop_all_missing_columns)


def train_config(config: ml_collections.ConfigDict,
                 method: str) -> train_lib.TrainConfig:
  """The :class:`TrainConfig` of a launcher method (see :data:`METHODS`)."""
  spec = method_spec(method)
  kwargs = config.train.to_dict()
  for key in ("hidden", "actor_hidden", "critic_hidden"):
    kwargs[key] = tuple(kwargs[key])
  if spec.model is not None:
    kwargs["model"] = spec.model
  return train_lib.TrainConfig(
      method=spec.trainer_method,
      exploration=policy_lib.Exploration(**config.exploration.to_dict()), **kwargs)


def make_trainer(config: ml_collections.ConfigDict, method: str,
                 num_features: int, num_classes: int) -> train_lib.Trainer:
  """The trainer of a launcher method (its own for the App. G ablation)."""
  tcfg = train_config(config, method)
  if method_spec(method).custom == "input_space":
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


def summarise(per_seed: list[dict[str, float]]) -> dict:
  out = {}
  for metric in per_seed[0]:
    values = np.array([r[metric] for r in per_seed], np.float64)
    out[metric] = {"mean": float(np.mean(values)),
                   "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                   "per_seed": [float(v) for v in values]}
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
  """Method x metric table, ``mean +/- std`` in percent."""
  methods = results["methods"]
  metrics = list(next(iter(methods.values()))[split])
  header = "| method | " + " | ".join(metrics) + " | seconds |"
  rule = "| --- " * (len(metrics) + 2) + "|"
  rows = [header, rule]
  for name, res in methods.items():
    cells = [f"{100 * res[split][m]['mean']:.2f} +/- {100 * res[split][m]['std']:.2f}"
             for m in metrics]
    rows.append(f"| {name} | " + " | ".join(cells)
                + f" | {res['wall_seconds']:.0f} |")
  return "\n".join(rows)


def _progress_logger(method: str, n_runs: int) -> Callable[[dict], None]:
  def log(p):
    done = p["step"] / p["num_steps"]
    rate = p["step"] / max(p["seconds"], 1e-9)
    eta = (p["num_steps"] - p["step"]) / max(rate, 1e-9)
    logging.info("[%s x%d runs] step %d/%d (%.0f%%)  loss %.4f  val %.4f  best %.4f "
                 "(means over runs)  %.0f steps/s  ETA %.0fs", method, n_runs,
                 p["step"], p["num_steps"], 100 * done, np.mean(p["loss"]),
                 np.mean(p["val_score"]), np.mean(p["best_score"]), rate, eta)
  return log


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
        profile_dir: str | None = None) -> dict:
  """Trains every method of ``config`` over its seeds; writes ``workdir/results.json``.

  The seeds of one method run as one vmapped program, sharded over all local devices
  when there are several.  With ``config.checkpoint_every_call`` the full state is
  checkpointed under ``workdir/checkpoints/METHOD`` and ``resume`` continues it.
  """
  for method in config.methods:
    method_spec(method)    # unknown names fail before any data or training
  os.makedirs(workdir, exist_ok=True)
  mask_seeds, split_seeds = list(config.mask_seeds), list(config.split_seeds)
  if mask_seeds or split_seeds:
    # One dataset per mask seed / split seed; every method sees the same masks and
    # splits.  All runs of a method share shapes and train as one vmapped program.
    variants = [dict(([("mask_seed", m)] if m is not None else [])
                     + ([("split_seed", p)] if p is not None else []))
                for m in (mask_seeds or [None]) for p in (split_seeds or [None])]
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
  num_classes = (data[0] if mask_seeds or split_seeds else prepared).num_classes
  results = {"config": config.to_dict(), "dataset": config.dataset,
             "num_classes": num_classes, "data_summary": s, "runs": runs,
             "methods": {}}
  mesh = train_lib.runs_mesh() if jax.local_device_count() > 1 else None
  if mesh is not None:
    logging.info("sharding runs over %d devices", mesh.devices.size)
  seeds = [r["seed"] for r in runs]
  imputer_options = config.get("imputer_options", ml_collections.ConfigDict())
  for method in config.methods:
    spec = method_spec(method)
    start = time.perf_counter()
    # Transform each distinct dataset once (runs of one mask seed share it).
    cache: dict[int, data_lib.Prepared] = {}
    shared = not isinstance(prepared, list)
    datasets = [prepared] if shared else prepared
    for i, p in enumerate(datasets):
      if id(p) not in cache:
        t0 = time.perf_counter()
        cache[id(p)] = transform(p, spec.transforms,
                                 imputer_options=imputer_options.to_dict())
        if spec.transforms:
          logging.info("[%s] transformed dataset %d/%d (%s) in %.1f s", method,
                       i + 1, len(datasets), "+".join(spec.transforms),
                       time.perf_counter() - t0)
    # data_m: what fit_many takes (one dataset, or one per run); per_run: a list.
    data_m = cache[id(prepared)] if shared else [cache[id(p)] for p in prepared]
    per_run = [data_m] * len(seeds) if shared else data_m
    transform_seconds = time.perf_counter() - start
    mse = _imputation_mse(config, spec, variants_of(runs), per_run)
    if spec.custom == "hgb":
      fits = [boosting.fit(p, seed, config.train.selection_metric)
              for p, seed in zip(per_run, seeds)]
    else:
      trainer = make_trainer(config, method, per_run[0].train.x.shape[-1],
                             per_run[0].num_classes)
      fits = train_lib.fit_many(
          trainer.config, data_m, seeds,
          progress=_progress_logger(method, len(seeds)),
          steps_per_call=config.steps_per_call, mesh=mesh,
          checkpoint_dir=(os.path.join(os.path.abspath(workdir), "checkpoints",
                                       method)
                          if config.checkpoint_every_call else None),
          resume=resume,
          profile_dir=None if profile_dir is None else os.path.join(profile_dir,
                                                                    method),
          trainer=trainer)
      write_history(workdir, method, runs, fits)
      save_models(workdir, method, fits, [p.scaler for p in per_run],
                  [p.train_mean for p in per_run])
    for run, fit in zip(runs, fits):
      logging.info("[%s %s] best step %d  val %s  test %s", method, run,
                   fit.best_step, fit.val, fit.test)
    results["methods"][method] = {
        "test": summarise([f.test for f in fits]),
        "val": summarise([f.val for f in fits]),
        "best_step": [f.best_step for f in fits],
        "wall_seconds": time.perf_counter() - start,
        "transform_seconds": transform_seconds,
    }
    if mse is not None:
      results["methods"][method]["imputation_mse"] = mse
    if "test_score" in (getattr(fits[0], "history", None) or {}):   # not hgb
      results["methods"][method]["test_selected"] = test_selected(
          fits, config.train.selection_metric)
    write_json(results, os.path.join(workdir, "results.json"))
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
    mses.append(imputers.imputation_mse(x, full.test.x[:, cols], test.m))
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
