r"""``gil_meta``'s importance diagnostics over training, as a JSON and a table.

  python -m launch.meta_diagnostics \
      --runs=1e-4=runs/meta_lstm/meta_lr_0.0001,1e-3=runs/meta_lstm/meta_lr_0.001 \
      --out=docs/results/meta_diagnostics_physionet2012.json

Each ``LABEL=WORKDIR`` is a ``launch.train`` workdir of ``--method`` trained with
``--config.train.diagnostics=True`` (``WORKDIR/history_METHOD.csv`` and
``WORKDIR/results.json``).  Per label the JSON holds, for every evaluation step, the
mean and the sample std over runs of each ``diag_*`` column and of ``val_score``,
and the same at each run's selected (best-on-validation) step, with each run's
values there.  The markdown table
printed (and written beside the JSON with ``--table``) shows the columns of
:data:`COLUMNS` at ``--steps`` and at the selected steps.  The diagnostics are
defined in :func:`gil_jax.sources.meta.meta_diagnostics`.
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np
from absl import flags

from launch import user_errors

COLUMNS = (("diag_importance_mean", "mean of a"),
           ("diag_importance_spread", "std of a over samples"),
           ("diag_importance_cv", "std / mean of a (observed)"),
           ("diag_importance_saturation", "share < 0.05 or > 0.95"),
           ("diag_update_change", "update change vs constant a"),
           ("diag_meta_grad_norm", "meta-gradient norm"),
           ("diag_meta_step_to_params", "meta step / params"),
           ("val_score", "validation score"))
RUN_KEYS = ("split_seed", "mask_seed", "seed", "fold")

FLAGS = flags.FLAGS


def read_runs(workdir: str, method: str) -> list[dict]:
  """Per run of ``method`` in ``workdir``: its selected step and its history
  (``{column: [evaluations]}``, with ``step``)."""
  results_path = os.path.join(workdir, "results.json")
  history_path = os.path.join(workdir, f"history_{method}.csv")
  for path in (results_path, history_path):
    if not os.path.exists(path):
      raise FileNotFoundError(f"{path} is missing: train {method!r} there with "
                              "--config.train.diagnostics=True")
  with open(results_path) as f:
    results = json.load(f)
  if method not in results["methods"]:
    raise ValueError(f"{results_path} has no method {method!r}; it has "
                     f"{sorted(results['methods'])}")
  with open(history_path) as f:
    rows = list(csv.DictReader(f))
  if not any(k.startswith("diag_") for k in (rows[0] if rows else {})):
    raise ValueError(f"{history_path} has no diagnostics: train with "
                     "--config.train.diagnostics=True")
  runs = []
  for run, best in zip(results["runs"], results["methods"][method]["best_step"]):
    mine = [r for r in rows if all(str(run[k]) == r[k] for k in run if k in r)]
    history = {k: np.array([float(r[k]) for r in mine])
               for k in mine[0] if k not in RUN_KEYS}
    runs.append({"run": run, "best_step": int(best), "history": history})
  return runs


def summarise(runs: list[dict]) -> dict:
  """Mean and std over runs, per evaluation step and at the selected steps."""
  steps = runs[0]["history"]["step"]
  columns = [k for k in runs[0]["history"] if k.startswith("diag_") or k == "val_score"]

  def stats(values):
    values = np.asarray(values, float)
    return {"mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}

  per_step = {int(step): {k: stats([r["history"][k][i] for r in runs])
                          for k in columns}
              for i, step in enumerate(steps)}
  at_best = [int(np.flatnonzero(r["history"]["step"] == r["best_step"])[0])
             for r in runs]
  per_run = {k: [float(r["history"][k][i]) for r, i in zip(runs, at_best)]
             for k in columns}
  return {"runs": [r["run"] for r in runs],
          "best_step": [r["best_step"] for r in runs],
          "per_step": per_step,
          "at_selected_step": {k: stats(v) for k, v in per_run.items()},
          "per_run_at_selected_step": per_run}


def table(summaries: dict, steps: list[int]) -> str:
  """Markdown: one row per label and step (and the selected steps)."""
  head = ["meta_lr", "step"] + [label for _, label in COLUMNS]
  lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]

  def cells(entry):
    return [f"{entry[k]['mean']:.3g} ± {entry[k]['std']:.2g}" if k in entry else "—"
            for k, _ in COLUMNS]

  for label, summary in summaries.items():
    for step in steps:
      if step in summary["per_step"]:
        lines.append("| " + " | ".join([label, str(step)]
                                       + cells(summary["per_step"][step])) + " |")
    selected = "selected " + ",".join(str(s) for s in summary["best_step"])
    lines.append("| " + " | ".join([label, selected]
                                   + cells(summary["at_selected_step"])) + " |")
  return "\n".join(lines) + "\n"


def main(argv):
  del argv
  workdirs = {}
  for entry in FLAGS.runs:
    label, sep, workdir = entry.partition("=")
    if not sep or not label or not workdir:
      raise ValueError(f"--runs entries are LABEL=WORKDIR, got {entry!r}")
    workdirs[label] = workdir
  summaries = {label: summarise(read_runs(workdir, FLAGS.method))
               for label, workdir in workdirs.items()}
  steps = [int(s) for s in FLAGS.steps]
  with open(FLAGS.out, "w") as f:
    json.dump({"method": FLAGS.method, "workdirs": workdirs,
               "summaries": summaries}, f, indent=1)
  text = table(summaries, steps)
  if FLAGS.table:
    with open(FLAGS.table, "w") as f:
      f.write(text)
  print(text)
  print(FLAGS.out)


if __name__ == "__main__":
  flags.DEFINE_list("runs", None, "LABEL=WORKDIR entries.")
  flags.DEFINE_string("method", "gil_meta", "The method whose history to read.")
  flags.DEFINE_list("steps", ["50", "100", "200", "300", "400", "600"],
                    "Evaluation steps shown in the table.")
  flags.DEFINE_string("out", None, "JSON file to write.")
  flags.DEFINE_string("table", None, "Also write the markdown table here.")
  flags.mark_flags_as_required(["runs", "out"])
  user_errors.run(main)
