"""``results.json``: its schema, reading, writing, merging and summaries.

``results.json`` schema (stable; reports and other tools read it)::

  {
    "config": {...},                 # the ConfigDict as a dict
    "dataset": str,
    "num_classes": int,
    "data_summary": {...},           # rows per split, missing rates, dropped columns
    "feature_names": [str],          # the variables, in the models' input order
    "runs": [{"seed": int, ("mask_seed": int), ("split_seed": int),
              ("fold": int)}],       # per_run order
    ("cv_folds": int, "cv_test_rows": [int]),   # only with config.cv_folds
    "methods": {
      METHOD: {                      # gil, gil_h, zero, mean, ...
        "test": {METRIC: {"mean": float, "std": float, "per_run": [float],
                          ("per_fold": [float], "fold_std": float)}},
        "val":  {... same ...},
        "best_step": [int],          # step of the best-on-validation parameters
                                     # (boosting iterations for hgb)
        "wall_seconds": float,       # all seeds of this method, compile included
        "transform_seconds": float,  # of which imputation / data transforms
        ("imputation_mse": {...}),   # only where the complete data are known
        ("test_selected": {          # only with config.train.track_test: the
          SELECTION_METRIC: {...},   # best TEST score over the evals and its step,
          "step": [int]}),           # i.e. the authors' protocol (optimistic;
      }                              # a diagnostic, never our result)
    }
  }

A run's best-on-validation predictor parameters (and, for GIL, the final actor)
are saved with orbax under ``WORKDIR/models/METHOD`` (one stacked array per leaf,
runs on the first axis; see :func:`launch.saved_models.save_models` /
:func:`launch.saved_models.load_models`) for ``launch.evaluate`` and
``launch.figures``.  What scikit-learn fitted (gradient boosting with its inputs'
description and scaling; the imputers fitted on each training split) is saved with
skops under ``WORKDIR/fitted/METHOD`` (:func:`launch.saved_models.save_fitted` /
:func:`launch.saved_models.load_fitted`).

METRIC is ``accuracy``, ``auroc`` and, for binary tasks, ``auprc``, as fractions in
[0, 1].  ``per_run`` lists one value per run, in the order of ``runs`` (seeds, or
mask seeds x seeds when ``config.mask_seeds`` is set); ``std`` is the sample standard
deviation over those runs (ddof=1; 0 for one run).
Test metrics are always those of the best-on-validation parameters.

This module loads no data library and no JAX: reports read results with it alone.
"""

from __future__ import annotations

import copy
import json
import os

import numpy as np

REQUIRED_KEYS = ("config", "dataset", "runs", "methods")
METHOD_KEYS = ("test", "wall_seconds")


class ResultsFileError(ValueError):
  """A file given as a results.json is not one (a user's input, not a bug)."""


def check_results(results, name: str) -> None:
  """Raises :class:`ResultsFileError` naming ``name`` unless ``results`` looks like a
  results.json: an object with :data:`REQUIRED_KEYS`, at least one method, each
  with :data:`METHOD_KEYS` and test metrics holding ``mean`` and ``std``."""
  if not isinstance(results, dict):
    raise ResultsFileError(f"{name}: not a results.json (top level is "
                     f"{type(results).__name__}, expected an object)")
  missing = [k for k in REQUIRED_KEYS if k not in results]
  if missing:
    raise ResultsFileError(f"{name}: not a results.json (missing keys: "
                     f"{', '.join(missing)})")
  if not isinstance(results["config"], dict):
    raise ResultsFileError(f"{name}: not a results.json ('config' is not an object)")
  if not isinstance(results["methods"], dict):
    raise ResultsFileError(f"{name}: not a results.json ('methods' is not an object)")
  if not results["methods"]:
    raise ResultsFileError(f"{name}: the results hold no method (every method was "
                     "skipped or the run did not finish)")
  for method, res in results["methods"].items():
    missing = [k for k in METHOD_KEYS if not isinstance(res, dict) or k not in res]
    if missing:
      raise ResultsFileError(f"{name}: not a results.json (method {method!r} is missing "
                       f"keys: {', '.join(missing)})")
    for metric, summary in res["test"].items():
      if not isinstance(summary, dict) or not {"mean", "std"} <= set(summary):
        raise ResultsFileError(f"{name}: not a results.json (method {method!r}, test "
                         f"metric {metric!r} lacks 'mean'/'std')")


def read_results_file(path: str) -> dict:
  """A results.json file, read and checked (:func:`check_results`); a missing,
  unreadable or malformed file is an error naming ``path``."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"results file not found: {path!r}")
  with open(path) as f:
    try:
      results = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      raise ResultsFileError(f"{path}: not a results.json (invalid JSON: {e})") from None
  check_results(results, path)
  return results


def load_results(workdir: str) -> dict:
  """``WORKDIR/results.json`` of a finished run, checked."""
  # local: the library's data module (its error type) loads JAX
  from gil_jax import data as data_lib
  path = data_lib.require_file(os.path.join(workdir, "results.json"),
                               "results file of a finished run")
  return read_results_file(path)


def write_json(obj, path):
  """Writes ``obj`` to ``path`` atomically (NumPy scalars and arrays as JSON)."""
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


def variants_of(runs: list[dict]) -> list[dict]:
  """Each run's mask seed / split seed (its dataset), without the training seed."""
  return [{k: v for k, v in r.items() if k != "seed"} for r in runs]


def summarise(per_run: list[dict[str, float]],
              runs: list[dict] | None = None) -> dict:
  """``{METRIC: {"mean", "std", "per_run"}}`` over runs.

  With cross-validation runs (``runs`` carrying ``"fold"``), each metric also gets
  ``"per_fold"``: the mean over each fold's runs (its seeds, mask seeds), in fold
  order, and ``"fold_std"``: their sample std (the spread over folds).
  """
  out = {}
  for metric in per_run[0]:
    values = np.array([r[metric] for r in per_run], np.float64)
    out[metric] = {"mean": float(np.mean(values)),
                   "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                   "per_run": [float(v) for v in values]}
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
