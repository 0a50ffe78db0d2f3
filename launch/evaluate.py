r"""External validation: scores a finished run's saved models on another data set.

  # train on PhysioNet 2012 set A ...
  python -m launch.train --config=launch/configs/physionet2012.py --workdir=runs/p12
  # ... and test on set B: OTHER holds set-b_long.csv.gz and its outcomes file
  # (set-b_outcomes.csv, or the challenge's Outcomes-b.txt; see
  # data_prep/physionet2012.py:outcome_candidates)
  python -m launch.evaluate --workdir=runs/p12 --data_dir=OTHER --set_name=set-b

  # your own CSV sequences: OTHER holds test_0.csv, test_1.csv (or the files
  # named by the training config's data.files, or --files=test_0=a.csv,...)
  python -m launch.evaluate --workdir=runs/mine --data_dir=OTHER

Every run of every method (all seeds / split seeds / folds) scores its
best-on-validation model on *all* rows of the other set, which is scaled with that
run's own training statistics and transformed as in training, with what was
fitted on the training split: the imputers (kNN, MICE, missForest, GAIN) and
gradient boosting are read from ``WORKDIR/fitted/METHOD`` (skops files, loaded
trusting only the types our baselines save; see
``gil_jax/baselines/persist.py``), the networks from ``WORKDIR/models/METHOD``.
Nothing is fitted on the other set.

Variables are matched BY NAME with the training run's (``feature_names`` in
``results.json``): the other set's columns may come in any order, and a variable
that is missing, extra or renamed is an error naming it.

Writes ``WORKDIR/eval.json`` (or ``--out``) in the ``results.json`` schema, with
the external set's metrics under ``"test"``, the original validation metrics under
``"val"``, the internal test metrics under ``"internal_test"``; ``data_summary``
describes the external set (rows, positive / class rates, missing rate, under the
split name ``"external"``) and ``training_data_summary`` the training run's.
"""

from __future__ import annotations

import os
import time
import warnings

import jax
import ml_collections
import numpy as np
from absl import app
from absl import flags
from absl import logging

from data_prep import csv_sequences
from gil_jax import data as data_lib
from gil_jax import metrics as metrics_lib
from gil_jax.training.fit import predict_in_batches
from gil_jax.baselines import boosting
from gil_jax.baselines import imputers
from gil_jax.methods import apply_transforms
from gil_jax.methods import method_spec
from launch import datasets
from launch import quiet_logs
from launch import results as results_lib
from launch import saved_models
from launch import translation
from launch import user_errors

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command-line flags (defined only when run as a script, so that tests
  can import this module beside other launchers)."""
  flags.DEFINE_string("workdir", None, "Workdir of a finished launch.train run.")
  flags.DEFINE_string("data_dir", None, "Folder with the other set's raw files, in "
                      "the training data's format (PhysioNet: *_long.csv.gz + "
                      "outcomes; csv_sequences: the CSV folder).")
  flags.DEFINE_string("set_name", None, "Set to load from --data_dir (PhysioNet "
                      "2012: e.g. set-b; csv_sequences: the split files to pool, "
                      "e.g. test or train,val,test, default test); default: the "
                      "training config's.")
  flags.DEFINE_string("files", None, "csv_sequences only: the other set's files as "
                      "split_label=FILE pairs (e.g. test_0=neg.csv,test_1=pos.csv); "
                      "default: the training config's data.files restricted to "
                      "--set_name's splits, else {split}_{label}.csv.")
  flags.DEFINE_string("tfds_dir", None, "TFDS folder for preparing the other set; "
                      "default WORKDIR/eval_data (never the training set's cache).")
  flags.DEFINE_list("methods", None, "Methods to score (default: all saved).")
  flags.DEFINE_string("out", None, "Output file (default WORKDIR/eval.json).")
  flags.mark_flags_as_required(["workdir", "data_dir"])


def align_features(raw, names, dropped=()):
  """``raw`` with its variables (last axis) reordered to the training ``names``.

  Args:
    raw: :class:`RawTabular` or :class:`RawSequences` of the other set.
    names: the training run's variable names, in its order (after dropping).
    dropped: variables the training run dropped (all missing there); the
      other set may hold them, they are dropped too.

  Raises:
    ValueError: a training variable is missing from the other set, or the other
      set holds a variable the training run never saw (a renamed variable is
      both), or a name occurs twice; the message names them.
  """
  have = [str(n) for n in raw.feature_names]
  names = [str(n) for n in names]
  twice = sorted({n for n in have if have.count(n) > 1})
  if twice:
    raise ValueError(f"the other set names variable(s) {twice} more than once")
  missing = [n for n in names if n not in have]
  extra = [n for n in have if n not in names and n not in set(dropped)]
  if missing or extra:
    raise ValueError(
        f"the other set's variables do not match the training run's by name: "
        f"missing {missing}, not in the training data {extra}"
        f"{' (renamed?)' if missing and extra else ''}; the training run has "
        f"{len(names)} variables: {names[:20]}{' ...' if len(names) > 20 else ''}")
  order = [have.index(n) for n in names]
  return raw._replace(x=np.asarray(raw.x)[..., order], feature_names=tuple(names))


def external_split(config: ml_collections.ConfigDict, raw, saved: dict,
                   run: int) -> data_lib.Split:
  """All rows of ``raw`` as a split, scaled with run ``run``'s training statistics."""
  if isinstance(raw, data_lib.RawSequences):
    if "scaler" not in saved:
      raise ValueError("the saved models hold no scaler for sequences")
    return data_lib.scale_sequences(raw, saved["scaler"]["shift"][run],
                                    saved["scaler"]["scale"][run],
                                    config.placeholder)
  data_lib.validate_tabular(raw.x, raw.y, raw.num_classes)
  m = ~np.isnan(raw.x)
  x = raw.x
  if "scaler" in saved:
    shift, scale = saved["scaler"]["shift"][run], saved["scaler"]["scale"][run]
    if shift.shape != (x.shape[1],):
      raise ValueError(f"the other set has {x.shape[1]} features, the training "
                       f"scaler {shift.shape[0]} (dropped all-missing columns?)")
    x = (np.where(m, x, 0.0) - shift) / scale
  elif config.scaling != "none":
    raise ValueError(
        f"external validation of tabular data needs unscaled features "
        f"(config.scaling='none') or saved training statistics; this run used "
        f"{config.scaling!r} and its saved models hold no scaler")
  placeholder = config.placeholder
  if isinstance(placeholder, str):    # "mean": the run's observed training mean
    if "train_mean" not in saved:
      raise ValueError("placeholder 'mean' needs the saved training means")
    placeholder = saved["train_mean"][run]
  return data_lib.Split(x=np.where(m, x, placeholder).astype(np.float32),
                        m=m.astype(np.float32), y=raw.y.astype(np.int32))


def data_summary(raw) -> dict:
  """Rows, class rates and missing rate of the other set (before any scaling), in
  ``results.json``'s ``data_summary`` form with the split named ``"external"``.

  The missing rate counts the valid steps of sequences only (not padding).
  """
  x, y = np.asarray(raw.x), np.asarray(raw.y)
  observed = ~np.isnan(x)
  if isinstance(raw, data_lib.RawSequences):
    length = np.asarray(raw.length)
    valid = np.arange(x.shape[1])[None, :] < length[:, None]
    cells = float(length.sum()) * x.shape[2]
    missing = 1.0 - float((observed & valid[..., None]).sum()) / cells
  else:
    missing = 1.0 - float(observed.mean())
  out = {"rows": {"external": int(len(y))}, "features": int(x.shape[-1]),
         "missing_rate": {"external": missing},
         "class_rates": {"external": {str(c): float(np.mean(y == c))
                                      for c in range(raw.num_classes)}}}
  if raw.num_classes == 2:
    out["positive_rate"] = {"external": float(np.mean(y == 1))}
  return out


def _load_other_set(config, dataset: str, data_dir: str, set_name, files,
                    tfds_dir, workdir):
  """The other set as one Raw{Tabular,Sequences}, and the loader's arguments."""
  kwargs = config.data.to_dict()
  kwargs.pop("mask_seed", None)
  kwargs[datasets.RAW_DATA_ARG[dataset]] = data_dir
  if set_name is not None:
    kwargs["set_name"] = set_name
  if "data_dir" in kwargs or dataset in ("physionet2012", "mnist"):
    kwargs["data_dir"] = tfds_dir or os.path.join(os.path.abspath(workdir),
                                                  "eval_data")
  if dataset == "csv_sequences":
    kwargs.pop("set_name", None)
    want = tuple(s.strip() for s in set_name.split(",")) if set_name else ("test",)
    if files:
      kwargs["files"] = files
    elif kwargs.get("files"):
      # The training config's own names (e.g. the authors' df_shock_test.csv).
      mapping = csv_sequences.parse_files(kwargs["files"])
      chosen = {s: v for s, v in mapping.items() if s in want}
      if not chosen:
        raise ValueError(f"the training config's data.files names no file of "
                         f"split(s) {list(want)}; give --files or --set_name")
      kwargs["files"] = chosen
    else:
      kwargs["files"], kwargs["splits"] = None, want
    kwargs["pool"] = True          # one set: every named file
  raw = datasets.DATASETS[dataset](**kwargs)
  if isinstance(raw, tuple) and not hasattr(raw, "_fields"):
    raw = raw[1]                   # (train, test) loaders: the test set
  return raw, kwargs


def _score(method: str, spec, config, raw, results, workdir, num_classes
           ) -> list[dict]:
  """Per-run metrics of ``method`` on the other set."""
  runs = results["runs"]
  if spec.custom in translation.CUSTOM_FITTERS:
    states = saved_models.load_fitted(workdir, method)
    if len(states) != len(runs):
      raise ValueError(f"{method}: {len(states)} saved models for {len(runs)} runs")
    per_run = []
    for st in states:
      saved = {"train_mean": st["train_mean"][None]}
      if "scaler" in st:
        saved["scaler"] = {k: v[None] for k, v in st["scaler"].items()}
      split = external_split(config, raw, saved, 0)
      split = apply_transforms(split, spec.transforms, st["train_mean"])
      if st["inputs"] == "boosting":
        probs = boosting.predict_proba(st["model"], split, st["feature_names"])
      else:
        probs = st["model"].predict_proba(np.asarray(split.x))
      per_run.append(metrics_lib.classification_metrics(split.y, probs))
    return per_run
  saved = saved_models.load_models(workdir, method)
  fitted = None
  if any(t in imputers.FITTERS for t in spec.transforms):
    fitted = [{k: imputers.from_state(v) for k, v in f["imputers"].items()}
              for f in saved_models.load_fitted(workdir, method)]
  per_run = []
  for i in range(len(runs)):
    split = external_split(config, raw, saved, i)
    train_mean = (saved["train_mean"][i] if "train_mean" in saved
                  else np.zeros(split.x.shape[-1], np.float32))
    split = apply_transforms(split, spec.transforms, train_mean,
                             None if fitted is None else fitted[i])
    trainer = translation.make_trainer(config, method, split.x.shape[-1],
                                       num_classes)
    params = jax.tree.map(lambda v: v[i], saved["params"])
    probs = predict_in_batches(trainer, params, split)
    per_run.append(metrics_lib.classification_metrics(split.y, probs))
  return per_run


def evaluate(workdir: str, data_dir: str, *, set_name: str | None = None,
             tfds_dir: str | None = None, methods: list[str] | None = None,
             files: str | None = None) -> dict:
  """Scores the saved models of ``workdir`` on the set in ``data_dir``."""
  results = results_lib.load_results(workdir)
  config = ml_collections.ConfigDict(results["config"])
  dataset = config.dataset
  if dataset not in datasets.RAW_DATA_ARG:
    raise ValueError(f"external validation is not supported for dataset "
                     f"{dataset!r}; supported: {sorted(datasets.RAW_DATA_ARG)}")
  if not os.path.isdir(data_dir):
    raise data_lib.DataFileNotFoundError(f"--data_dir not found: {data_dir!r}")
  if files and dataset != "csv_sequences":
    raise ValueError("--files is for csv_sequences runs only")
  methods = list(methods or results["methods"])
  for method in methods:
    if method not in results["methods"]:
      raise ValueError(f"method {method!r} is not in {workdir}/results.json; "
                       f"it has {sorted(results['methods'])}")
  raw, kwargs = _load_other_set(config, dataset, data_dir, set_name, files,
                                tfds_dir, workdir)
  names = results.get("feature_names")
  if names:
    raw = align_features(raw, names,
                         results.get("data_summary", {}).get("dropped_columns", ()))
  else:
    warnings.warn(f"{workdir}/results.json has no feature_names (a run made "
                  f"before they were recorded): the other set's variables are "
                  f"matched by position, not by name")
  # Some results files have no num_classes (e.g. the run behind
  # docs/results/physionet2012_five_splits.json); the other set's loader knows it.
  num_classes = int(results.get("num_classes") or raw.num_classes)
  summary = data_summary(raw)
  out = {"config": results["config"], "dataset": dataset,
         "external": {"data_dir": os.path.abspath(data_dir), "loader": kwargs},
         "data_summary": summary,
         "training_data_summary": results.get("data_summary", {}),
         "runs": results["runs"], "methods": {}, "skipped": {}}
  for method in methods:
    spec = method_spec(method)
    start = time.perf_counter()
    try:
      per_run = _score(method, spec, config, raw, results, workdir, num_classes)
    except FileNotFoundError as e:    # a method whose models were not saved
      out["skipped"][method] = str(e)
      logging.warning("skipping %s: %s", method, e)
      continue
    out["methods"][method] = {
        "test": results_lib.summarise(per_run),
        "val": results["methods"][method]["val"],
        "best_step": results["methods"][method]["best_step"],
        "wall_seconds": time.perf_counter() - start,   # scoring only
        "internal_test": results["methods"][method]["test"],
    }
    logging.info("%s on %s: %s", method, data_dir,
                 {k: round(v["mean"], 4) for k, v in out["methods"][method]
                  ["test"].items()})
  return out


def describe(out: dict) -> str:
  """The heading of the printed table: which set, its rows and rates beside the
  training set's."""
  s, t = out["data_summary"], out.get("training_data_summary") or {}
  train_pos = (t.get("positive_rate") or {}).get("train")
  train_missing = (t.get("missing_rate") or {}).get("train")
  rates = [f"{s['rows']['external']} rows"]
  if "positive_rate" in s:
    rates.append(f"positive rate {s['positive_rate']['external']:.3f}" + (
        f" (training split {train_pos:.3f})" if train_pos is not None else ""))
  rates.append(f"missing rate {s['missing_rate']['external']:.3f}" + (
      f" (training split {train_missing:.3f})" if train_missing is not None
      else ""))
  return (f"EXTERNAL SET {out['external']['data_dir']}: {', '.join(rates)}.\n"
          f"Test metrics (%) on the external set of each run's "
          f"best-on-validation model, mean +/- std over {len(out['runs'])} runs; "
          f"seconds = scoring time")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Too many command-line arguments: {argv[1:]}")
  logging.set_verbosity(logging.INFO)
  quiet_logs.quiet_libraries()      # orbax logs every model it restores
  out = evaluate(FLAGS.workdir, FLAGS.data_dir, set_name=FLAGS.set_name,
                 tfds_dir=FLAGS.tfds_dir, methods=FLAGS.methods,
                 files=FLAGS.files)
  path = FLAGS.out or os.path.join(FLAGS.workdir, "eval.json")
  results_lib.write_json(out, path)
  print("\n" + describe(out) + "\n")
  if out["methods"]:
    print(results_lib.format_table(out))
  for method, why in out["skipped"].items():
    print(f"skipped {method}: {why}")
  print(f"\nwrote {path}")


if __name__ == "__main__":
  define_flags()
  user_errors.run(main)
