"""Tests for launch/report.py and launch/paper_numbers.py on small fake results."""

import csv
import json
import os

import numpy as np
import pytest

from launch import paper_numbers, report


def _summary(values):
  n = len(values)
  mean = sum(values) / n
  std = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0
  return {"mean": mean, "std": std, "per_run": list(values)}


def _method(acc, seconds=10.0, auroc=None, auprc=None, best_step=(100, 200, 300)):
  test = {"accuracy": _summary(acc)}
  if auroc is not None:
    test["auroc"] = _summary(auroc)
  if auprc is not None:
    test["auprc"] = _summary(auprc)
  return {"test": test, "val": test, "best_step": list(best_step[:len(acc)]),
          "wall_seconds": seconds}


def _mnist(rate, methods, mechanism=None, mask_seeds=(0, 1), num_steps=100):
  data = {"missing_rate": rate, "mask_seed": 0}
  if mechanism is not None:
    data["mechanism"] = mechanism
  return {
      "config": {"dataset": "mnist", "data": data, "methods": list(methods),
                 "seeds": [0], "mask_seeds": list(mask_seeds), "split_seeds": [],
                 "train": {"num_steps": num_steps}},
      "dataset": "mnist",
      "data_summary": {"rows": {"train": 10, "val": 2, "test": 5}},
      "runs": [{"mask_seed": m, "seed": 0} for m in mask_seeds],
      "methods": methods,
  }


def _physionet(split_seeds=()):
  runs = ([{"split_seed": p, "seed": 0} for p in split_seeds] if split_seeds
          else [{"seed": s} for s in (0, 1, 2)])
  n = len(runs)
  methods = {
      "zero": _method([0.86] * n, 5.0, [0.80] * n, [0.40] * n),
      "gil": _method([0.85, 0.87, 0.86][:n], 20.0, [0.81, 0.83, 0.82][:n],
                     [0.45, 0.47, 0.46][:n]),
      "grud": _method([0.88] * n, 7.0, [0.84] * n, [0.50] * n),
  }
  return {
      "config": {"dataset": "physionet2012", "data": {"set_name": "set-a"},
                 "seeds": [0] if split_seeds else [0, 1, 2],
                 "split_seeds": list(split_seeds), "mask_seeds": [],
                 "split": {"split_seed": 0}, "methods": list(methods)},
      "dataset": "physionet2012",
      "data_summary": {"rows": {"train": 8, "val": 1, "test": 1},
                       "positive_rate": {"train": 0.14, "val": 0.1, "test": 0.1}},
      "runs": runs,
      "methods": methods,
  }


def _write(tmp_path, name, results):
  path = os.path.join(tmp_path, name)
  with open(path, "w") as f:
    json.dump(results, f)
  return path


def _row(markdown, first_cell):
  for line in markdown.splitlines():
    if line.startswith(f"| {first_cell} |"):
      return [c.strip() for c in line.strip("|").split("|")]
  raise AssertionError(f"no row {first_cell!r} in\n{markdown}")


def _read_csv(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def _setting_args(label):
  """``"MCAR 50%"`` -> ``("mcar", 0.5)``; ``"MAR"`` -> ``("mar", None)``."""
  mechanism, _, rate = label.partition(" ")
  return mechanism.lower(), (float(rate.rstrip("%")) / 100 if rate else None)


def test_paper_numbers_lookup():
  """Every printed cell is found under its own setting and method, whatever the
  spelling of the setting; what the paper did not print is None."""
  tables = (paper_numbers.MNIST_TABLE3, paper_numbers.MNIST_TABLE5_GIL_D,
            paper_numbers.MNIST_TABLE7_INPUT_SPACE)
  for i, table in enumerate(tables):
    for label, column in table.items():
      mechanism, rate = _setting_args(label)
      if rate is not None:
        assert paper_numbers.mnist_setting(mechanism, rate) == label
      for method, value in column.items():
        if any(method in t.get(label, {}) for t in tables[:i]):
          continue                          # an earlier table has it first
        assert paper_numbers.mnist_accuracy(method, mechanism, rate) == value
        assert paper_numbers.mnist_accuracy(method, mechanism.upper(), rate) == value
        if mechanism == "mcar":
          assert paper_numbers.mnist_accuracy(method, None, rate) == value
        else:                               # one MAR column whatever the rate
          assert paper_numbers.mnist_accuracy(method, "mar", 0.123) == value
  printed = {m for t in tables for column in t.values() for m in column}
  assert "mean" not in printed
  assert paper_numbers.mnist_accuracy("mean", "mcar", 0.5) is None
  rates = {_setting_args(label)[1] for label in paper_numbers.MNIST_TABLE3}
  assert 0.6 not in rates
  assert paper_numbers.mnist_accuracy("gil", "mcar", 0.6) is None
  for method, metrics in paper_numbers.PHYSIONET2012_TABLE6.items():
    for metric, value in metrics.items():
      assert paper_numbers.physionet2012_metric(method, metric) == value
  assert "grud" not in paper_numbers.PHYSIONET2012_TABLE6
  assert paper_numbers.physionet2012_metric("grud", "auroc") is None
  for table in tables:
    for column in table.values():
      assert set(column) <= set(paper_numbers.PAPER_LABELS)


def _cell(values, paper=None):
  """The report's cell for per-run fractions: mean ± sample std in percent, and
  the paper's (mean, std) in parentheses."""
  v = 100 * np.asarray(values, np.float64)
  text = f"{v.mean():.2f} ± {v.std(ddof=1):.2f}"
  return text if paper is None else f"{text} ({paper[0]:.2f} ± {paper[1]:.2f})"


def test_mnist_cells_merge_and_csv(tmp_path):
  a50 = _mnist(0.5, {"zero": _method([0.95, 0.96], 10.0),
                     "gil": _method([0.96, 0.97], 30.0)})
  b50 = _mnist(0.5, {"mean": _method([0.94, 0.94], 12.0),
                     "gil": _method([0.90, 0.92], 40.0)})
  c90 = _mnist(0.9, {"zero": _method([0.70, 0.72], 11.0),
                     "gil": _method([0.75, 0.77], 33.0),
                     "mean": _method([0.71, 0.71], 13.0)})
  paths = [_write(tmp_path, "c90.json", c90), _write(tmp_path, "a50.json", a50),
           _write(tmp_path, "b50.json", b50)]
  out = os.path.join(tmp_path, "out")
  rep = report.write_report(paths, out, title="fake")
  md = rep.markdown
  assert md.startswith("# fake\n")
  with open(os.path.join(out, "report.md")) as f:
    assert f.read() == md

  header = _row(md, "method")
  assert header == ["method", "MCAR 50%", "MCAR 90%"]      # sorted by rate
  gil = _row(md, "gil")
  paper = paper_numbers.mnist_accuracy
  # b50 comes after a50, so its gil wins.
  assert gil[1] == _cell([0.90, 0.92], paper("gil", "mcar", 0.5))
  assert gil[2] == _cell([0.75, 0.77], paper("gil", "mcar", 0.9))
  zero = _row(md, "zero")
  assert zero[1] == _cell([0.95, 0.96], paper("zero", "mcar", 0.5))
  mean = _row(md, "mean")
  assert mean[1] == _cell([0.94, 0.94])                   # no paper number
  # Row order: gil, zero, mean.
  lines = md.splitlines()
  assert (lines.index(next(x for x in lines if x.startswith("| gil |")))
          < lines.index(next(x for x in lines if x.startswith("| zero |")))
          < lines.index(next(x for x in lines if x.startswith("| mean |"))))
  assert len(rep.warnings) == 1 and "'gil'" in rep.warnings[0]
  assert "b50.json" in rep.warnings[0]

  # Seconds table: each setting's file that won, and the sums.
  seconds = [line for line in lines if line.startswith("| gil |")][1]
  assert [c.strip() for c in seconds.strip("|").split("|")] == [
      "gil", f"{40.0:.0f}", f"{33.0:.0f}", f"{40.0 + 33.0:.0f}"]
  s50, s90 = 10.0 + 12.0 + 40.0, 11.0 + 33.0 + 13.0     # zero, mean, gil per setting
  assert _row(md, "total") == ["total", f"{s50:.0f}", f"{s90:.0f}", f"{s50 + s90:.0f}"]
  assert _row(md, "runs") == ["runs", "2", "2", ""]

  rows = _read_csv(os.path.join(out, "report.csv"))
  assert list(rows[0]) == list(report.CSV_FIELDS)
  acc = {(r["setting"], r["method"]): r for r in rows if r["metric"] == "accuracy"}
  assert set(acc) == {("MCAR 50%", m) for m in ("gil", "zero", "mean")} | {
      ("MCAR 90%", m) for m in ("gil", "zero", "mean")}
  r = acc[("MCAR 50%", "gil")]
  assert r["file"].endswith("b50.json")
  assert float(r["mean"]) == pytest.approx(91.0)
  assert float(r["std"]) == pytest.approx(1.414214, abs=1e-5)
  assert r["n_runs"] == "2"
  assert float(r["paper_mean"]) == 96.29 and float(r["paper_std"]) == 0.07
  assert acc[("MCAR 50%", "mean")]["paper_mean"] == ""
  wall = [r for r in rows if r["metric"] == "wall_seconds"]
  assert len(wall) == 6


def test_mnist_mar_column_and_config_warning():
  mcar = _mnist(0.5, {"gil": _method([0.9, 0.9])})
  mar = _mnist(0.5, {"gil": _method([0.9, 0.9])}, mechanism="mar")
  other = _mnist(0.5, {"zero": _method([0.9, 0.9])}, num_steps=200)
  # Options of an imputer that neither file ran are not a difference.
  mcar["config"]["imputer_options"] = {"knn": {"max_fit_rows": 500}}
  other["config"]["imputer_options"] = {"knn": {"max_fit_rows": 2000}}
  rep = report.build_report([("mar", mar), ("mcar", mcar), ("other", other)])
  assert not any("imputer_options" in w for w in rep.warnings)
  other["config"]["methods"] = ["zero", "knn"]
  rep2 = report.build_report([("mcar", mcar), ("other", other)])
  assert any("imputer_options.knn.max_fit_rows" in w for w in rep2.warnings)
  assert _row(rep.markdown, "method") == ["method", "MCAR 50%", "MAR 50%"]
  assert _row(rep.markdown, "gil")[2] == _cell(
      [0.9, 0.9], paper_numbers.MNIST_TABLE3["MAR"]["gil"])    # the paper's MAR
  assert any("train.num_steps" in w for w in rep.warnings)


def test_non_mnist_dataset_has_no_paper_numbers():
  digits = _mnist(0.5, {"gil": _method([0.9, 0.8])})
  digits["dataset"] = "digits"
  rep = report.build_report([("d", digits)])
  assert "## digits: test accuracy" in rep.markdown
  assert _row(rep.markdown, "gil")[1] == _cell([0.9, 0.8])


def test_physionet_protocols(tmp_path):
  a = _write(tmp_path, "a.json", _physionet())
  b = _write(tmp_path, "b.json", _physionet(split_seeds=(0, 1, 2)))
  out = os.path.join(tmp_path, "out")
  rep = report.write_report([a, b], out)
  md = rep.markdown
  assert "## physionet2012, protocol (a): one split, seeds 0, 1, 2" in md
  assert "## physionet2012, protocol (b): 3 stratified splits" in md
  header = _row(md, "method")
  assert header == ["method", "accuracy", "AUROC", "AUPRC", "paper accuracy",
                    "paper AUROC", "paper AUPRC", "best_step (median)", "wall s"]
  gil = _row(md, "gil")
  paper = [f"{paper_numbers.PHYSIONET2012_TABLE6['gil'][m]:.2f}"
           for m in ("accuracy", "auroc", "auprc")]
  assert gil == ["gil", _cell([0.85, 0.87, 0.86]), _cell([0.81, 0.83, 0.82]),
                 _cell([0.45, 0.47, 0.46]), *paper, f"{np.median([100, 200, 300]):g}",
                 f"{20.0:.0f}"]
  assert _row(md, "grud")[4:7] == ["—", "—", "—"]
  # Fixed order: gil before zero before grud.
  lines = [x.split("|")[1].strip() for x in md.splitlines() if x.startswith("| ")]
  assert lines[2:5] == ["gil", "zero", "grud"]

  rows = _read_csv(os.path.join(out, "report.csv"))
  settings = {r["setting"] for r in rows}
  assert settings == {"protocol (a): one split, seeds 0, 1, 2",
                      "protocol (b): 3 stratified splits"}
  r = next(r for r in rows if r["file"] == b and r["method"] == "gil"
           and r["metric"] == "auroc")
  assert float(r["mean"]) == pytest.approx(82.0)
  assert float(r["paper_mean"]) == paper_numbers.physionet2012_metric("gil", "auroc")
  assert r["paper_std"] == ""
  assert r["n_runs"] == "3"
  med = next(r for r in rows if r["file"] == a and r["method"] == "gil"
             and r["metric"] == "best_step_median")
  assert float(med["mean"]) == 200


def test_forced_table_and_auto(tmp_path):
  phys = _physionet()
  assert report.table_kind(phys) == "physionet2012"
  assert report.table_kind(_mnist(0.5, {})) == "mnist"
  rep = report.build_report([("p", phys)], table="mnist")
  assert "## physionet2012: test accuracy" in rep.markdown
  with pytest.raises(ValueError, match="unknown table"):
    report.build_report([("p", phys)], table="bogus")


def test_errors(tmp_path):
  with pytest.raises(ValueError, match="no results files"):
    report.write_report([], os.path.join(tmp_path, "out"))
  with pytest.raises(ValueError, match="no results files"):
    report.build_report([])
  missing = os.path.join(tmp_path, "nope.json")
  with pytest.raises(FileNotFoundError, match="nope.json"):
    report.load_results([missing])
  bad = _write(tmp_path, "bad.json", {"config": {}, "dataset": "mnist"})
  with pytest.raises(ValueError, match=r"bad.json: not a results.json .*runs, methods"):
    report.load_results([bad])
  bad_method = _mnist(0.5, {"gil": {"test": {}}})
  with pytest.raises(ValueError, match="'gil' is missing keys: wall_seconds"):
    report.check_results(bad_method, "x.json")
  with pytest.raises(ValueError, match="x.json"):
    report.check_results([1, 2], "x.json")
  not_json = os.path.join(tmp_path, "t.json")
  with open(not_json, "w") as f:
    f.write("{oops")
  with pytest.raises(ValueError, match="t.json: not a results.json"):
    report.load_results([not_json])


def test_same_as_rows_show_the_equivalent_method_beside_the_paper(tmp_path):
  a90 = _mnist(0.9, {"gil": _method([0.75, 0.77], 33.0),
                     "mean": _method([0.76, 0.78], 13.0)})
  b90 = _mnist(0.9, {"zero": _method([0.70, 0.72], 11.0)})   # zero was run here
  rep = report.build_report([("a", a90), ("b", b90)],
                            same_as=report.parse_same_as(["gil_h:mean", "zero:mean"]))
  md = rep.markdown
  paper = paper_numbers.mnist_accuracy
  # The alias shows mean's runs beside the paper's GIL-H; zero ran, so it is its own.
  assert _row(md, "gil_h (= mean)")[1] == _cell([0.76, 0.78], paper("gil_h", "mcar", 0.9))
  assert _row(md, "zero")[1] == _cell([0.70, 0.72], paper("zero", "mcar", 0.9))
  assert "| zero (= mean)" not in md
  seconds = [line for line in md.splitlines() if line.startswith("| gil_h (= mean)")]
  assert [c.strip() for c in seconds[1].strip("|").split("|")] == [
      "gil_h (= mean)", "—", "—"]
  assert _row(md, "total") == ["total", "57", "57"]          # aliases add no time
  acc = {r["method"]: r for r in rep.rows if r["metric"] == "accuracy"}
  assert float(acc["gil_h (= mean)"]["paper_mean"]) == paper("gil_h", "mcar", 0.9)[0]
  assert float(acc["gil_h (= mean)"]["mean"]) == pytest.approx(77.0)
  for bad in (["zero"], ["zero:"], ["mean:mean"]):
    with pytest.raises(ValueError, match="ALIAS:METHOD"):
      report.parse_same_as(bad)


def test_merge_results_of_one_setting_keeps_every_source_config(tmp_path):
  from launch import results
  a = _mnist(0.9, {"gil": _method([0.75, 0.77]), "mean": _method([0.76, 0.78])})
  b = _mnist(0.9, {"gain": _method([0.74, 0.73])})
  b["config"]["imputer_options"] = {"gain": {"num_steps": 2000}}
  merged = results.merge_results([("a", a), ("b", b)])
  assert list(merged["methods"]) == ["gil", "mean", "gain"]
  assert merged["config"]["methods"] == ["gil", "mean", "gain"]
  assert [m["file"] for m in merged["merged_from"]] == ["a", "b"]
  assert merged["merged_from"][1]["config"]["imputer_options"]["gain"] == {
      "num_steps": 2000}
  assert a["methods"].keys() == {"gil", "mean"}              # inputs untouched
  # The merged file reports like the two files together.
  path = _write(tmp_path, "merged.json", merged)
  rep = report.build_report(report.load_results([path]))
  assert _row(rep.markdown, "gain")[1] == "73.50 ± 0.71 (72.58 ± 0.90)"
  # Merging a merged file again (more methods ran later) keeps a flat source list.
  c = _mnist(0.9, {"knn": _method([0.60, 0.61])})
  again = results.merge_results([("merged", merged), ("c", c)])
  assert list(again["methods"]) == ["gil", "mean", "gain", "knn"]
  assert [m["file"] for m in again["merged_from"]] == ["a", "b", "c"]
  assert again["merged_from"][1]["config"]["imputer_options"]["gain"] == {
      "num_steps": 2000}
  with pytest.raises(ValueError, match="more than one file"):
    results.merge_results([("a", a), ("a2", a)])
  with pytest.raises(ValueError, match="different runs"):
    results.merge_results([("a", a), ("c", _mnist(0.9, {"zero": _method([0.7])},
                                                     mask_seeds=(0,)))])


def test_authors_protocol_table_shows_test_selected_beside_ours(tmp_path):
  traced = _method([0.90, 0.92])
  traced["test_selected"] = {"accuracy": _summary([0.93, 0.94]), "step": [300, 450]}
  path = _write(tmp_path, "r.json", _mnist(0.9, {"mean": traced,
                                                "gil": _method([0.91, 0.93])}))
  markdown = report.write_report([path], str(tmp_path / "out")).markdown
  assert "the authors' selection protocol" in markdown
  row = _row(markdown.split("selection protocol")[1], "mean")
  assert row[1] == "MCAR 90%"
  assert row[2].startswith("91.00 ±") and row[3].startswith("93.50 ±")
  assert row[4] == "+2.50" and row[5] == "300, 450"
  assert "| gil | MCAR" not in markdown.split("selection protocol")[1]
  csv_rows = [r for r in _read_csv(tmp_path / "out" / "report.csv")
              if r["metric"] == "accuracy_test_selected"]
  assert [(r["method"], float(r["mean"])) for r in csv_rows] == [("mean", 93.5)]
  # Without traced runs there is no such table.
  plain = _write(tmp_path, "p.json", _mnist(0.9, {"gil": _method([0.91, 0.93])}))
  assert "selection protocol" not in report.write_report(
      [plain], str(tmp_path / "out2")).markdown
