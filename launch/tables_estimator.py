r"""The three UCI tables through ``GILClassifier`` (the practitioner's path).

  python -m launch.tables_estimator --tables=thyroid0387,adult \
      --out=docs/results/tables_estimator.json
  python -m launch.tables_estimator --tables=diabetes130 --folds=3 \
      --out=docs/results/tables_estimator.json

For each table, the DataFrame as loaded by ``data_prep/uci_tables.py`` (no launcher
config, no encoding by hand) goes into scikit-learn's own tools:

* ``thyroid0387``: ``cross_val_score(GILClassifier(...), X, y, cv=5,
  scoring="roc_auc")`` (stratified 5-fold; the example of docs/usage.md);
* ``diabetes130``: the same with ``GroupKFold`` over patients (``groups=patient``);
* ``adult``: ``fit`` on the official training file, ``roc_auc_score`` on the
  official test file.

Each fold's early stopping uses the estimator's own validation carve-out of its
training part.  Prints one line per table and writes the AUROCs and wall times.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from absl import flags
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_score

from data_prep import uci_tables
from gil_jax.estimator import GILClassifier
from launch import user_errors

FLAGS = flags.FLAGS
TABLES = ("thyroid0387", "adult", "diabetes130")


def define_flags() -> None:
  """The command-line flags (defined only when run as a script, so that tests
  can import this module beside other launchers)."""
  flags.DEFINE_string("out", None, "JSON file for the results.")
  flags.DEFINE_list("tables", list(TABLES), f"Tables: {', '.join(TABLES)}.")
  flags.DEFINE_string("method", "gil", "GILClassifier method.")
  flags.DEFINE_integer("num_steps", 1000, "Training steps per fit.")
  flags.DEFINE_integer("folds", 5, "Cross-validation folds (thyroid, diabetes).")


def run_table(name: str) -> dict:
  clf = GILClassifier(method=FLAGS.method, hidden=(256, 256),
                      num_steps=FLAGS.num_steps, random_state=0)
  start = time.perf_counter()
  if name == "adult":
    x, y = uci_tables.adult_frame(split="train")
    x_test, y_test = uci_tables.adult_frame(split="test")
    clf.fit(x, y)
    scores = [roc_auc_score(y_test, clf.predict_proba(x_test)[:, 1])]
    protocol = "fit on the official train file, scored on the official test file"
  elif name == "diabetes130":
    x, y, patient = uci_tables.diabetes130_frame()
    scores = cross_val_score(clf, x, y, groups=patient, cv=GroupKFold(FLAGS.folds),
                             scoring="roc_auc")
    protocol = f"{FLAGS.folds}-fold GroupKFold over patients"
  else:
    x, y = uci_tables.thyroid0387_frame()
    scores = cross_val_score(clf, x, y, cv=FLAGS.folds, scoring="roc_auc")
    protocol = f"stratified {FLAGS.folds}-fold cross-validation"
  scores = [float(s) for s in scores]
  return {"auroc_per_fold": scores, "auroc_mean": float(np.mean(scores)),
          "auroc_std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
          "protocol": protocol, "params": {k: (list(v) if isinstance(v, tuple) else v)
                                           for k, v in clf.get_params().items()},
          "wall_seconds": time.perf_counter() - start}


def check_options(tables: list[str], folds: int) -> None:
  """Raises ValueError naming the first bad option, before any table is loaded."""
  unknown = [t for t in tables if t not in TABLES]
  if unknown:
    raise ValueError(f"--tables {unknown}: unknown; choose from {list(TABLES)}")
  if folds < 2:
    raise ValueError(f"--folds must be >= 2, got {folds}")


def main(argv):
  del argv
  check_options(FLAGS.tables, FLAGS.folds)
  out = {}
  if FLAGS.out and os.path.exists(FLAGS.out):     # add tables to an earlier file
    with open(FLAGS.out) as f:
      out = json.load(f)
  for name in FLAGS.tables:
    out[name] = run_table(name)
    r = out[name]
    print(f"{name}: AUROC {r['auroc_mean']:.4f} +/- {r['auroc_std']:.4f} "
          f"({r['protocol']}; {r['wall_seconds']:.0f} s)", flush=True)
    if FLAGS.out:
      with open(FLAGS.out, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
  define_flags()
  user_errors.run(main)
