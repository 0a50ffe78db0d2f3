r"""External validation: scores a finished run's saved models on another data set.

  # train on PhysioNet 2012 set A ...
  python -m launch.train --config=launch/configs/physionet2012.py --workdir=runs/p12
  # ... and test on set B (raw files set-b_long.csv.gz + outcomes in OTHER)
  python -m launch.evaluate --workdir=runs/p12 --data_dir=OTHER --set_name=set-b

Every run of every method (all seeds / split seeds) scores its best-on-validation
parameters (``WORKDIR/models/METHOD``) on *all* rows of the other set, which is
scaled with that run's own training statistics (saved beside the parameters) and
transformed as in training (carry-forward, mask features, mean filling).  Writes
``WORKDIR/eval.json`` (or ``--out``) in the ``results.json`` schema, with the
external set's metrics under ``"test"`` and the original validation metrics under
``"val"``.

Methods whose preprocessing was fitted on the training data and not saved
(kNN / MICE / missForest / GAIN imputers) and gradient boosting are skipped, with
a message.
"""

from __future__ import annotations

import os
import time

import jax
import ml_collections
import numpy as np
from absl import app
from absl import flags
from absl import logging

from gil_jax import data as data_lib
from gil_jax import metrics as metrics_lib
from gil_jax import train as train_lib
from gil_jax.baselines import imputers
from launch import experiment

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
  flags.DEFINE_string("tfds_dir", None, "TFDS folder for preparing the other set; "
                      "default WORKDIR/eval_data (never the training set's cache).")
  flags.DEFINE_list("methods", None, "Methods to score (default: all saved).")
  flags.DEFINE_string("out", None, "Output file (default WORKDIR/eval.json).")
  flags.mark_flags_as_required(["workdir", "data_dir"])


def external_split(config: ml_collections.ConfigDict, raw, saved: dict,
                   run: int) -> data_lib.Split:
  """All rows of ``raw`` as a split, scaled with run ``run``'s training statistics."""
  if not isinstance(raw, (data_lib.RawSequences, data_lib.RawTabular)):
    raw = raw[1]                      # (train, test) loaders: the test set
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
  return data_lib.Split(x=np.where(m, x, config.placeholder).astype(np.float32),
                        m=m.astype(np.float32), y=raw.y.astype(np.int32))


def evaluate(workdir: str, data_dir: str, *, set_name: str | None = None,
             tfds_dir: str | None = None, methods: list[str] | None = None
             ) -> dict:
  """Scores the saved models of ``workdir`` on the set in ``data_dir``."""
  results = experiment.load_results(workdir)
  config = ml_collections.ConfigDict(results["config"])
  dataset = config.dataset
  if dataset not in experiment.RAW_DATA_ARG:
    raise ValueError(f"external validation is not supported for dataset "
                     f"{dataset!r}; supported: {sorted(experiment.RAW_DATA_ARG)}")
  if not os.path.isdir(data_dir):
    raise data_lib.DataFileNotFoundError(f"--data_dir not found: {data_dir!r}")
  kwargs = config.data.to_dict()
  kwargs.pop("mask_seed", None)
  kwargs[experiment.RAW_DATA_ARG[dataset]] = data_dir
  if set_name is not None:
    kwargs["set_name"] = set_name
  if "data_dir" in kwargs or dataset in ("physionet2012", "mnist"):
    kwargs["data_dir"] = tfds_dir or os.path.join(os.path.abspath(workdir),
                                                  "eval_data")
  if dataset == "csv_sequences":
    kwargs["splits"] = tuple(set_name.split(",")) if set_name else ("test",)
    kwargs.pop("set_name", None)
  raw = experiment.DATASETS[dataset](**kwargs)
  # Older results files lack num_classes; the other set's loader knows it.
  num_classes = int(results.get("num_classes") or (
      raw[1] if isinstance(raw, tuple) and not hasattr(raw, "_fields")
      else raw).num_classes)
  methods = list(methods or results["methods"])
  out = {"config": results["config"], "dataset": dataset,
         "external": {"data_dir": os.path.abspath(data_dir), "loader": kwargs},
         "runs": results["runs"], "methods": {}, "skipped": {}}
  for method in methods:
    if method not in results["methods"]:
      raise ValueError(f"method {method!r} is not in {workdir}/results.json; "
                       f"it has {sorted(results['methods'])}")
    spec = experiment.method_spec(method)
    fitted = [t for t in spec.transforms if t in imputers.IMPUTERS]
    if spec.custom == "hgb" or fitted:
      out["skipped"][method] = ("its preprocessing/model is fitted on the "
                                "training data and not saved")
      logging.info("skipping %s: %s", method, out["skipped"][method])
      continue
    start = time.perf_counter()
    saved = experiment.load_models(workdir, method)
    per_run = []
    for i in range(len(results["runs"])):
      split = external_split(config, raw, saved, i)
      train_mean = (saved["train_mean"][i] if "train_mean" in saved
                    else np.zeros(split.x.shape[-1], np.float32))
      prepared = data_lib.Prepared(
          train=split, val=split, test=split, num_classes=num_classes,
          feature_names=(), train_mean=train_mean, summary={})
      split = experiment.transform(prepared, spec.transforms).test
      if spec.trainer_method == "mean":
        split = data_lib.mean_imputed(split, train_mean)
      trainer = experiment.make_trainer(config, method, split.x.shape[-1],
                                        prepared.num_classes)
      params = jax.tree.map(lambda v: v[i], saved["params"])
      probs = train_lib.predict_in_batches(trainer, params, split)
      per_run.append(metrics_lib.classification_metrics(split.y, probs))
    out["methods"][method] = {
        "test": experiment.summarise(per_run),
        "val": results["methods"][method]["val"],
        "best_step": results["methods"][method]["best_step"],
        "wall_seconds": time.perf_counter() - start,   # scoring only
        "internal_test": results["methods"][method]["test"],
    }
    logging.info("%s on %s: %s", method, data_dir,
                 {k: round(v["mean"], 4) for k, v in out["methods"][method]
                  ["test"].items()})
  out["data_summary"] = {"rows": {"test": int(len(split.y))}} if out["methods"] else {}
  return out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Too many command-line arguments: {argv[1:]}")
  logging.set_verbosity(logging.INFO)
  out = evaluate(FLAGS.workdir, FLAGS.data_dir, set_name=FLAGS.set_name,
                 tfds_dir=FLAGS.tfds_dir, methods=FLAGS.methods)
  path = FLAGS.out or os.path.join(FLAGS.workdir, "eval.json")
  experiment.write_json(out, path)
  if out["methods"]:
    print(experiment.format_table(out))
  for method, why in out["skipped"].items():
    print(f"skipped {method}: {why}")
  print(f"\nwrote {path}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
