"""launch.paired_report: files joined with "+" and differences paired by run."""

import json

import numpy as np
import pytest

from launch import paired_report

SUMMARY = {"rows": {"train": 10, "val": 2, "test": 2}, "features": 3,
           "missing_rate": {"train": 0.5}}


def _results(path, methods, runs, dataset="toy", summary=SUMMARY):
  """A results.json with ``methods = {name: per-run test auroc}``."""
  res = {"dataset": dataset, "data_summary": summary, "config": {},
         "runs": runs,
         "methods": {m: {"test": {"auroc": {"mean": sum(v) / len(v), "std": 0.0,
                                            "per_run": v}},
                         "wall_seconds": 1.0}
                     for m, v in methods.items()}}
  path.write_text(json.dumps(res))
  return str(path)


def test_joined_files_pair_runs_by_seed_not_by_position(tmp_path):
  runs = [{"seed": 0}, {"seed": 1}, {"seed": 2}]
  a = _results(tmp_path / "a.json", {"gil": [0.1, 0.2, 0.3]}, runs)
  # The second file ran its seeds in another order, and has a newer summary field.
  b = _results(tmp_path / "b.json", {"mean": [0.2, 0.0, 0.1]},
               [runs[2], runs[0], runs[1]], summary={**SUMMARY, "placeholder": 0.0})
  res = paired_report.joined([a, b])
  p = paired_report.paired(res, "gil", "mean", "auroc")
  # Every seed: gil - mean = 0.1 (by position: -0.1, +0.2, +0.2).
  assert p["mean"] == pytest.approx(0.1)
  assert p["se"] == pytest.approx(0.0, abs=1e-12)
  assert p["n"] == 3 and p["wins"] == 3


def test_a_method_given_twice_keeps_the_first_file_and_its_runs(tmp_path):
  runs = [{"seed": 0}, {"seed": 1}]
  a = _results(tmp_path / "a.json", {"gil": [0.5, 0.6]}, runs)
  b = _results(tmp_path / "b.json", {"gil": [0.9], "hgb": [0.7]}, runs[:1])
  res = paired_report.joined([a, b])
  assert res["methods"]["gil"]["test"]["auroc"]["per_run"] == [0.5, 0.6]
  assert res["joined_from"][1]["ignored_methods"] == ["gil"]
  # A one-run method is compared with every run of the other.
  p = paired_report.paired(res, "hgb", "gil", "auroc")
  assert p["n"] == 2 and p["mean"] == pytest.approx(0.7 - 0.55)


def test_a_suffixed_file_sits_beside_the_original(tmp_path):
  runs = [{"seed": 0}, {"seed": 1}]
  a = _results(tmp_path / "a.json", {"gil_meta": [0.5, 0.6]}, runs)
  b = _results(tmp_path / "b.json", {"gil_meta": [0.7, 0.9]}, runs)
  res = paired_report.joined([a, b + "@_w128"])
  assert set(res["methods"]) == {"gil_meta", "gil_meta_w128"}
  assert res["joined_from"][1]["ignored_methods"] == []
  p = paired_report.paired(res, "gil_meta_w128", "gil_meta", "auroc")
  assert p["mean"] == pytest.approx(0.25) and p["n"] == 2


def test_one_method_of_a_suffixed_file(tmp_path):
  runs = [{"seed": 0}, {"seed": 1}]
  a = _results(tmp_path / "a.json", {"gil_meta": [0.7, 0.9]}, runs)
  b = _results(tmp_path / "b.json", {"gil_meta": [0.5, 0.6], "zero": [0.4, 0.4]}, runs)
  res = paired_report.joined([a, b, b + "@_w400:gil_meta"])
  assert set(res["methods"]) == {"gil_meta", "zero", "gil_meta_w400"}
  assert res["methods"]["gil_meta"]["test"]["auroc"]["per_run"] == [0.7, 0.9]
  assert paired_report.paired(res, "gil_meta", "gil_meta_w400",
                              "auroc")["mean"] == pytest.approx(0.25)
  with pytest.raises(ValueError, match="no method 'gil'"):
    paired_report.joined([a, b + "@_w400:gil"])


def test_different_runs_or_datasets_are_refused(tmp_path):
  a = _results(tmp_path / "a.json", {"gil": [0.1, 0.2]}, [{"seed": 0}, {"seed": 1}])
  b = _results(tmp_path / "b.json", {"mean": [0.1, 0.2]}, [{"seed": 0}, {"seed": 7}])
  with pytest.raises(ValueError, match="different runs"):
    paired_report.paired(paired_report.joined([a, b]), "gil", "mean", "auroc")
  c = _results(tmp_path / "c.json", {"mean": [0.1, 0.2]}, [{"seed": 0}, {"seed": 1}],
               dataset="other")
  with pytest.raises(ValueError, match="another dataset or split"):
    paired_report.joined([a, c])
  d = _results(tmp_path / "d.json", {"mean": [0.1, 0.2]}, [{"seed": 0}, {"seed": 1}],
               summary={**SUMMARY, "features": 4})
  with pytest.raises(ValueError, match="another dataset or split"):
    paired_report.joined([a, d])


def _launch(path, methods, runs):
  """A launch's results.json: ``methods = {name: per-run (test, val) auroc}``."""
  res = {"dataset": "toy", "data_summary": SUMMARY, "config": {}, "runs": runs,
         "methods": {m: {"test": {"auroc": {"mean": 0.0, "std": 0.0,
                                            "per_run": [t for t, _ in v]}},
                         "val": {"auroc": {"mean": 0.0, "std": 0.0,
                                           "per_run": [u for _, u in v]}},
                         "best_step": [10] * len(v), "wall_seconds": 5.0}
                     for m, v in methods.items()}}
  path.write_text(json.dumps(res))
  return str(path)


def test_concatenated_launches_pair_every_run(tmp_path):
  a = _launch(tmp_path / "a.json", {"gil_meta": [(0.5, 0.4), (0.7, 0.6)],
                                    "mean": [(0.4, 0.4), (0.6, 0.5)]},
              [{"mask_seed": 0}, {"mask_seed": 1}])
  b = _launch(tmp_path / "b.json", {"mean": [(0.3, 0.3)], "gil_meta": [(0.2, 0.1)]},
              [{"mask_seed": 2}])
  res = paired_report.load(a + "|" + b)
  gm = res["methods"]["gil_meta"]
  assert gm["test"]["auroc"]["per_run"] == [0.5, 0.7, 0.2]
  assert gm["test"]["auroc"]["mean"] == pytest.approx(1.4 / 3)
  # Validation scores are concatenated and summarised again (sample std).
  assert gm["val"]["auroc"]["per_run"] == [0.4, 0.6, 0.1]
  assert gm["val"]["auroc"]["std"] == pytest.approx(np.std([0.4, 0.6, 0.1], ddof=1))
  assert gm["wall_seconds"] == 10.0 and len(res["runs"]) == 3
  p = paired_report.paired(res, "gil_meta", "mean", "auroc")
  assert p["n"] == 3 and p["wins"] == 2
  assert p["mean"] == pytest.approx((0.1 + 0.1 - 0.1) / 3)
  # The same runs twice, or other methods, are refused.
  with pytest.raises(ValueError, match="more than one"):
    paired_report.load(a + "|" + a)
  c = _launch(tmp_path / "c.json", {"mean": [(0.3, 0.3)]}, [{"mask_seed": 2}])
  with pytest.raises(ValueError, match="same methods only"):
    paired_report.load(a + "|" + c)


def test_joined_launches_concatenate_with_a_launch_of_both(tmp_path):
  runs = [{"mask_seed": 0}, {"mask_seed": 1}]
  a = _launch(tmp_path / "a.json", {"gil_meta": [(0.5, 0.4), (0.7, 0.6)]}, runs)
  b = _launch(tmp_path / "b.json", {"mean": [(0.4, 0.4), (0.6, 0.5)]}, runs)
  c = _launch(tmp_path / "c.json", {"mean": [(0.3, 0.3)], "gil_meta": [(0.2, 0.1)]},
              [{"mask_seed": 2}])
  res = paired_report.load(f"{a}+{b}|{c}")
  assert res["methods"]["mean"]["test"]["auroc"]["per_run"] == [0.4, 0.6, 0.3]
  assert paired_report.paired(res, "gil_meta", "mean", "auroc")["n"] == 3


def _cli(tmp_path, *args):
  import os
  import subprocess
  import sys
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  return subprocess.run([sys.executable, "-m", "launch.paired_report",
                         f"--out={tmp_path / 'out.md'}", *args], cwd=root,
                        capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("args, says", [
    (["--pairs=gil:hgb"], "method 'hgb' is in none of the results"),
    (["--pairs=gil:mean", "--metrics=auroc,f1"], "--metrics ['f1']: unknown"),
    (["--pairs=gil-mean"], "write METHOD_A:METHOD_B"),
])
def test_cli_mistakes_are_one_line_and_exit_2(tmp_path, args, says):
  path = _launch(tmp_path / "a.json", {"gil": [(0.5, 0.5)], "mean": [(0.4, 0.4)]},
                 [{"seed": 0}])
  proc = _cli(tmp_path, f"--results={path}", *args)
  assert proc.returncode == 2, proc.stderr
  assert says in proc.stderr and "Traceback" not in proc.stderr
  assert not (tmp_path / "out.md").exists()


def test_cli_missing_results_file_is_one_line(tmp_path):
  proc = _cli(tmp_path, f"--results={tmp_path / 'nope.json'}", "--pairs=gil:mean")
  assert proc.returncode == 2 and "nope.json" in proc.stderr
  assert "Traceback" not in proc.stderr
