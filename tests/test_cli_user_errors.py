"""Every launcher answers a user's mistake with one line naming the input and the
problem, and exit status 2, before any work; and the report joins results files
of one dataset into one table.  Mistakes tried as a new user would: missing or
empty workdirs, files that are not what the flag wants, results without the keys
a tool reads, unknown flag values."""

import json
import os
import subprocess
import sys
import warnings

import pytest

from launch import diagnostics_figure, evaluate, experiment, report, tables_estimator
from launch.configs import csv_sequences as csv_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
  env = dict(os.environ, JAX_PLATFORMS="cpu", GIL_TRACEBACK="")
  return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120, check=False)


def _summary(values):
  mean = sum(values) / len(values)
  return {"mean": mean, "std": 0.0, "per_run": list(values)}


def _results(dataset="physionet2012", methods=("gil",), rows=10):
  test = {"accuracy": _summary([0.8, 0.9]), "auroc": _summary([0.7, 0.75]),
          "auprc": _summary([0.3, 0.4])}
  return {"config": {"dataset": dataset, "seeds": [0, 1], "split": {"split_seed": 0},
                     "methods": list(methods), "train": {"selection_metric": "auroc"}},
          "dataset": dataset,
          "data_summary": {"rows": {"train": rows, "val": 2, "test": 2},
                           "features": 3, "positive_rate": {"train": 0.5}},
          "runs": [{"seed": 0}, {"seed": 1}],
          "methods": {m: {"test": test, "val": test, "best_step": [10, 20],
                          "wall_seconds": 1.0} for m in methods}}


def _write(path, obj):
  with open(path, "w") as f:
    json.dump(obj, f) if not isinstance(obj, str) else f.write(obj)
  return str(path)


def _one_line_error(proc, *words):
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and "error:" in lines[0], proc.stderr[-2000:]
  for word in words:
    assert word in lines[0]


def test_reading_launchers_give_one_line_and_status_2(tmp_path):
  # An empty workdir (no history), a file that is not a results.json.
  _one_line_error(_cli("launch.diagnostics_figure", f"--workdir={tmp_path}",
                       f"--out={tmp_path / 'fig.png'}"), "history_gil.csv")
  not_results = _write(tmp_path / "x.json", {"a": 1})
  _one_line_error(_cli("launch.paired_report", f"--results={not_results}",
                       f"--out={tmp_path / 'p.md'}"), "x.json", "not a results.json")


def test_history_and_results_files_are_checked_by_name(tmp_path):
  bad = _write(tmp_path / "history_gil.csv",
               "step,seed,diag_critic_cosine\n1,0,0.5\n2,0,oops\n")
  with pytest.raises(ValueError, match="history_gil.csv, line 3.*"
                                       "'diag_critic_cosine' holds 'oops'"):
    diagnostics_figure.read_history(bad)
  bare = _write(tmp_path / "history_bare.csv", "seed,diag_critic_cosine\n0,0.5\n")
  with pytest.raises(ValueError, match="history_bare.csv has no 'step' column"):
    diagnostics_figure.read_history(bare)
  # Every method skipped: nothing to report, said so (was an empty report).
  empty = _write(tmp_path / "e.json", dict(_results(), methods={}))
  with pytest.raises(ValueError, match="e.json: the results hold no method"):
    report.load_results([empty])


def test_jax_launchers_check_their_options_before_reading_anything(tmp_path):
  # The workdir does not exist: the bad option must be named first.
  _one_line_error(_cli("launch.figures", f"--workdir={tmp_path / 'nowhere'}",
                       f"--out={tmp_path / 'f'}", "--image_shape=28"),
                  "--image_shape")
  # An unknown table used to train thyroid0387's five folds under its name.
  with pytest.raises(ValueError, match="--tables \\['thyroid'\\]: unknown"):
    tables_estimator.check_options(["thyroid"], folds=5)


@pytest.mark.parametrize("content, problem", [
    ({"config": {}}, "missing keys: dataset, runs, methods"),
    ([1, 2], "top level is list"),
    ("{truncated", "invalid JSON"),
])
def test_evaluate_names_a_results_file_it_cannot_use(tmp_path, content, problem):
  _write(tmp_path / "results.json", content)
  with pytest.raises(ValueError, match=f"results.json.*{problem}"):
    evaluate.evaluate(str(tmp_path), str(tmp_path))


def test_report_joins_files_of_one_dataset_into_one_table(tmp_path):
  a = _write(tmp_path / "a.json", _results(methods=("gil",)))
  b = _write(tmp_path / "b.json", _results(methods=("mean", "hgb")))
  rep = report.build_report(report.load_results([f"{a}+{b}"]))
  tables = [line for line in rep.markdown.splitlines() if line.startswith("| method")]
  assert len(tables) == 1
  rows = [line.split("|")[1].strip() for line in rep.markdown.splitlines()
          if line.startswith("| ") and not line.startswith("| method")]
  assert {"gil", "mean", "hgb"} <= set(rows)
  other = _write(tmp_path / "c.json", _results(methods=("mean",), rows=99))
  with pytest.raises(ValueError, match="c.json.*another dataset or split.*rows"):
    report.load_results([f"{a}+{other}"])


def test_a_loader_warning_shows_once_per_run_not_once_per_fold(tmp_path):
  # The same patient ids in both label files: the loader warns (possible leakage).
  for label in (0, 1):
    lines = [",HR,Temp"] + [f"{p},{60 + 10 * label + p + t},{36 + t / 10}"
                            for p in range(9) for t in range(2)]
    _write(tmp_path / f"test_{label}.csv", "\n".join(lines) + "\n")
  config = csv_config.get_config(str(tmp_path))
  config.cv_folds = 3
  config.split_seeds = (0, 1)
  config.train.selection_metric = "accuracy"
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("default")
    data = experiment.load_run_data(config)
  assert len({(r["fold"], r["split_seed"]) for r in data.runs}) == 6
  shared = [w for w in caught if "more than one file" in str(w.message)]
  assert len(shared) == 1, [str(w.message) for w in caught]
