r"""Tables of one or more ``results.json`` files next to the paper's numbers.

  python -m launch.report \
      --results=runs/mnist50/results.json,runs/mnist90/results.json \
      --out=docs/results/mnist [--table=auto|mnist|physionet2012] [--title=...] \
      [--same_as=zero:mean,gil_h:mean]

Writes ``OUT/report.md`` and ``OUT/report.csv`` and prints the markdown.  A
``--results`` entry ``A+B`` joins files of one dataset and split whose methods ran
apart into one results (``X|Y`` concatenates runs), as ``launch.paired_report``
does; files of different data are refused.  Input files
follow the schema in ``launch/results.py``; the paper's numbers come from
``launch/paper_numbers.py``.

Two layouts (``--table=auto`` picks per file: ``mnist`` for non-binary tasks,
``physionet2012`` for ``dataset == "physionet2012"`` or any binary task):

* ``mnist``: one table per dataset; rows are methods, columns are missingness
  settings (``config.data.mechanism``, default ``mcar``, and
  ``config.data.missing_rate``, e.g. "MCAR 50%"); a cell is the test accuracy
  ``ours mean ± std (paper mean ± std)`` in percent, std over runs (mask seeds x
  seeds).  Files with the same setting are merged; a method in several of them is
  taken from the later file (with a warning).  A second table gives wall seconds per
  method and setting, totals, and the number of runs.
* ``physionet2012``: one table per file, titled by its protocol ("protocol (a): one
  split, seeds ..." or "protocol (b): N stratified splits"); rows are methods,
  columns accuracy, AUROC, AUPRC (``mean ± std``), the paper's Table 6 values,
  the median best step and the wall seconds.

Paper numbers are shown only where the dataset is the paper's (``mnist``,
``physionet2012``).  The CSV is long: one row per file, setting (or protocol), method
and metric, with columns ``file, setting, method, metric, mean, std, n_runs,
paper_mean, paper_std``; metrics in percent, plus ``wall_seconds`` and (for the
binary layout) ``best_step_median`` rows.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import app, flags, logging

from launch import paired_report, paper_numbers, user_errors
from launch import results as results_lib

# Rows in this order, then any other method in order of first appearance.
METHOD_ORDER = ("gil", "gil_mask", "gil_h", "gil_d", "gil_d_mask", "input_space",
                "zero", "mean",
                "carry_forward", "mean_mask", "carry_forward_mask", "knn", "mice",
                "missforest", "gain", "grud", "hgb")
METRICS = ("accuracy", "auroc", "auprc")
METRIC_LABELS = {"accuracy": "accuracy", "auroc": "AUROC", "auprc": "AUPRC"}
CSV_FIELDS = ("file", "setting", "method", "metric", "mean", "std", "n_runs",
              "paper_mean", "paper_std")
TABLES = ("auto", "mnist", "physionet2012")
_MECHANISM_ORDER = {"mcar": 0, "mar": 1, "mnar": 2}
_DASH = "—"


@dataclasses.dataclass
class Report:
  """A built report: the markdown, the CSV rows (dicts keyed by ``CSV_FIELDS``) and
  the warnings raised while merging."""
  markdown: str
  rows: list[dict[str, Any]]
  warnings: list[str]


check_results = results_lib.check_results


def load_results(paths: Sequence[str]) -> list[tuple[str, dict]]:
  """Reads and checks results files; returns ``(spec, results)`` pairs in order.

  A spec is a file, or files of one dataset and split joined as
  ``launch.paired_report`` joins them (:func:`launch.paired_report.load`):
  ``A+B`` (methods run apart: one table), ``X|Y`` (more runs of the same
  methods).
  """
  paths = [p for p in paths if p]
  if not paths:
    raise ValueError("no results files given")
  return [(p, paired_report.load(p) if "+" in p or "|" in p
           else results_lib.read_results_file(p)) for p in paths]


def is_binary(results: dict) -> bool:
  """Whether the task is binary (AUPRC reported, or a positive rate summarised)."""
  if "positive_rate" in results.get("data_summary", {}):
    return True
  return any("auprc" in res["test"] for res in results["methods"].values())


def table_kind(results: dict, table: str = "auto") -> str:
  """The layout for one file: ``table`` itself unless it is ``auto``."""
  if table not in TABLES:
    raise ValueError(f"unknown table {table!r}; choose from {TABLES}")
  if table != "auto":
    return table
  if results["dataset"] == "mnist":
    return "mnist"
  if results["dataset"] == "physionet2012" or is_binary(results):
    return "physionet2012"
  return "mnist"


def ordered_methods(names) -> list[str]:
  """``names`` (deduplicated) in ``METHOD_ORDER``, then the rest as they came."""
  seen = list(dict.fromkeys(names))
  known = [m for m in METHOD_ORDER if m in seen]
  return known + [m for m in seen if m not in METHOD_ORDER]


def setting_of(results: dict) -> tuple[str, str, float | None]:
  """``(label, mechanism, missing_rate)`` from the file's ``config.data``."""
  data = results["config"].get("data") or {}
  mechanism = str(data.get("mechanism") or "mcar").lower()
  rate = data.get("missing_rate")
  rate = None if rate is None else float(rate)
  return paper_numbers.mnist_setting(mechanism, rate), mechanism, rate


def n_runs(results: dict, method: str) -> int:
  """Runs behind a method's numbers: its per-seed list, else the file's runs."""
  test = results["methods"][method]["test"]
  for summary in test.values():
    if "per_run" in summary:
      return len(summary["per_run"])
  return len(results["runs"])


def _pct(v: float | None) -> str:
  if v is None:
    return _DASH
  return "nan" if math.isnan(v) else f"{100 * v:.2f}"


def _mean_std(summary: dict | None) -> str:
  if summary is None:
    return _DASH
  return f"{_pct(summary['mean'])} ± {_pct(summary['std'])}"


def _round(v: float | None) -> float | str:
  return "" if v is None else round(float(v), 6)


def _metric_rows(name: str, setting: str, method: str, res: dict, runs: int,
                 paper) -> list[dict[str, Any]]:
  """CSV rows of one method's test metrics (percent); ``paper(metric)`` gives
  ``(mean, std)`` or None."""
  rows = []
  for metric, summary in res["test"].items():
    ref = paper(metric)
    rows.append({"file": name, "setting": setting, "method": method,
                 "metric": metric, "mean": _round(100 * summary["mean"]),
                 "std": _round(100 * summary["std"]), "n_runs": runs,
                 "paper_mean": _round(ref[0] if ref else None),
                 "paper_std": _round(ref[1] if ref else None)})
  return rows


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def _config_differences(a: dict, b: dict) -> list[str]:
  """Config keys (dotted) that differ, ignoring the method list and the options of
  imputers that neither file ran."""
  fa, fb = _flatten(a), _flatten(b)
  ran = set(a.get("methods", ())) | set(b.get("methods", ()))

  def relevant(k):
    parts = k.split(".")
    return not (parts[0] == "imputer_options" and len(parts) > 1
                and parts[1] not in ran)
  return sorted(k for k in set(fa) | set(fb)
                if k != "methods" and relevant(k) and fa.get(k) != fb.get(k))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
  lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
  lines += ["| " + " | ".join(r) + " |" for r in rows]
  return lines


def parse_same_as(pairs: Sequence[str] | None) -> dict[str, str]:
  """``["zero:mean", ...]`` -> ``{"zero": "mean"}`` (row shown with another's runs)."""
  out = {}
  for pair in pairs or ():
    alias, sep, source = pair.partition(":")
    if not sep or not alias or not source or alias == source:
      raise ValueError(f"--same_as entries are ALIAS:METHOD (e.g. zero:mean), got "
                       f"{pair!r}")
    out[alias] = source
  return out


def _test_selected_row(method: str, label: str, res: dict) -> list[str]:
  """One row of the authors'-protocol table: val- vs test-selected accuracy."""
  ours, best = res["test"]["accuracy"], res["test_selected"]["accuracy"]
  return [method, label, _mean_std(ours), _mean_std(best),
          f"{100 * (best['mean'] - ours['mean']):+.2f}",
          ", ".join(str(v) for v in res["test_selected"]["step"])]


def mnist_section(files: Sequence[tuple[str, dict]], warnings: list[str],
                  same_as: dict[str, str] | None = None
                  ) -> tuple[list[str], list[dict[str, Any]]]:
  """Markdown lines and CSV rows of the settings layout for files of one dataset.

  ``same_as`` maps a method that was not run to one that is the same computation
  (e.g. zero imputation and GIL-H are mean imputation on standardised inputs): its
  row shows that method's runs, labelled ``alias (= method)``, beside the paper's
  numbers for the alias.
  """
  same_as = same_as or {}
  dataset = files[0][1]["dataset"]
  with_paper = dataset == "mnist"
  settings: dict[str, dict] = {}
  for name, results in files:
    label, mechanism, rate = setting_of(results)
    s = settings.setdefault(label, {"mechanism": mechanism, "rate": rate,
                                    "methods": {}, "files": [], "config": None})
    if s["config"] is not None:
      diff = _config_differences(s["config"][1], results["config"])
      if diff:
        msg = (f"{label}: {name} and {s['config'][0]} differ in config "
               f"{', '.join(diff)}")
        warnings.append(msg)
        logging.warning(msg)
    else:
      s["config"] = (name, results["config"])
    s["files"].append(name)
    for method in results["methods"]:
      if method in s["methods"]:
        msg = (f"{label}: method {method!r} is in {s['methods'][method][0]} and "
               f"{name}; using {name}")
        warnings.append(msg)
        logging.warning(msg)
      s["methods"][method] = (name, results)
  aliases: dict[str, str] = {}
  for alias, source in same_as.items():
    for s in settings.values():
      if alias not in s["methods"] and source in s["methods"]:
        s["methods"][alias] = s["methods"][source]
        aliases[alias] = source
  labels = sorted(settings, key=lambda k: (
      _MECHANISM_ORDER.get(settings[k]["mechanism"], len(_MECHANISM_ORDER)),
      settings[k]["mechanism"], -1.0 if settings[k]["rate"] is None
      else settings[k]["rate"]))
  methods = ordered_methods(m for k in labels for m in settings[k]["methods"])

  def paper(method, label):
    if not with_paper:
      return None
    s = settings[label]
    return paper_numbers.mnist_accuracy(method, s["mechanism"], s["rate"])

  acc_rows, sec_rows, csv_rows, diag_rows = [], [], [], []
  for method in methods:
    row_name = (f"{method} (= {aliases[method]})" if method in aliases else method)
    acc, secs, total = [row_name], [row_name], 0.0
    for label in labels:
      entry = settings[label]["methods"].get(method)
      if entry is None:
        acc.append(_DASH)
        secs.append(_DASH)
        continue
      name, results = entry
      aliased = method in aliases and method not in results["methods"]
      res = results["methods"][aliases[method] if aliased else method]
      cell = _mean_std(res["test"].get("accuracy"))
      ref = paper(method, label)
      if ref is not None:
        cell += f" ({ref[0]:.2f} ± {ref[1]:.2f})"
      acc.append(cell)
      if aliased:
        secs.append(_DASH)              # not run: its time is the other method's
        csv_rows += _metric_rows(
            name, label, row_name, res, n_runs(results, aliases[method]),
            lambda metric, m=method, k=label: (paper(m, k) if metric == "accuracy"
                                               else None))
        continue
      secs.append(f"{res['wall_seconds']:.0f}")
      total += res["wall_seconds"]
      runs = n_runs(results, method)
      if "accuracy" in res.get("test_selected", {}):
        diag_rows.append(_test_selected_row(method, label, res))
        csv_rows.append({"file": name, "setting": label, "method": method,
                         "metric": "accuracy_test_selected",
                         "mean": _round(100 * res["test_selected"]["accuracy"]["mean"]),
                         "std": _round(100 * res["test_selected"]["accuracy"]["std"]),
                         "n_runs": runs, "paper_mean": "", "paper_std": ""})
      csv_rows += _metric_rows(
          name, label, method, res, runs,
          lambda metric, m=method, k=label: (paper(m, k) if metric == "accuracy"
                                             else None))
      csv_rows.append({"file": name, "setting": label, "method": method,
                       "metric": "wall_seconds", "mean": _round(res["wall_seconds"]),
                       "std": "", "n_runs": runs, "paper_mean": "", "paper_std": ""})
    acc_rows.append(acc)
    ran = any(method in entry[1]["methods"]
              for entry in (settings[k]["methods"].get(method) for k in labels)
              if entry is not None)
    sec_rows.append(secs + [f"{total:.0f}" if ran else _DASH])
  totals, runs_row = ["total"], ["runs"]
  for label in labels:
    entries = {m: e for m, e in settings[label]["methods"].items()
               if m in e[1]["methods"]}
    seconds = sum(r["methods"][m]["wall_seconds"] for m, (_, r) in entries.items())
    totals.append(f"{seconds:.0f}")
    counts = list(dict.fromkeys(n_runs(r, m) for m, (_, r) in entries.items()))
    runs_row.append("/".join(str(c) for c in counts))
  grand = sum(r["methods"][m]["wall_seconds"] for k in labels
              for m, (_, r) in settings[k]["methods"].items()
              if m in r["methods"])
  sec_rows += [totals + [f"{grand:.0f}"], runs_row + [""]]

  lines = [f"## {dataset}: test accuracy (%)", ""]
  lines += _table(["method"] + labels, acc_rows)
  note = ("Test accuracy of the best-on-validation parameters, mean ± std over runs "
          "(mask seeds x seeds; counts below).")
  if with_paper:
    note += (" In parentheses: the paper (Table 3; `gil_d` from Table 5, "
             "`input_space` from Table 7), which selects checkpoints on the test set; "
             "its std is converted from the printed x10^-3 subscripts to percentage "
             "points. "
             "Any MAR column is compared with the paper's single MAR column.")
  if aliases:
    note += (" Rows `a (= b)` were not run: they are the same computation as `b` "
             "(same numbers), shown beside the paper's `a`.")
  lines += ["", note, ""]
  if diag_rows:
    lines += [f"## {dataset}: the authors' selection protocol (diagnostic)", ""]
    lines += _table(["method", "setting", "best on validation", "best on test",
                     "optimism", "test-selected steps"], diag_rows)
    lines += ["", "Runs with `train.track_test`: the test accuracy of the "
              "best-on-validation parameters (our result) beside the best test "
              "accuracy over all evals (what the authors' code reports), mean ± std "
              "over the same runs; optimism is the difference of the means.  Never "
              "used to choose anything.", ""]
  lines += [f"## {dataset}: wall seconds per method (all runs, compile included)", ""]
  lines += _table(["method"] + labels + ["total"], sec_rows)
  lines += ["", "Sources: " + "; ".join(
      f"{k}: {', '.join(f'`{f}`' for f in settings[k]['files'])}" for k in labels), ""]
  return lines, csv_rows


def protocol_of(results: dict) -> tuple[str, str]:
  """``(title, detail)``: the evaluation protocol of a binary-task file."""
  config = results["config"]
  runs = results["runs"]
  seeds = list(config.get("seeds") or dict.fromkeys(r["seed"] for r in runs))
  seed_text = ", ".join(str(s) for s in seeds)
  split_seeds = list(config.get("split_seeds") or [])
  if results.get("cv_folds"):
    k = results["cv_folds"]
    repeats = (f"split seeds {', '.join(str(s) for s in split_seeds)}"
               if split_seeds else
               f"split seed {(config.get('split') or {}).get('split_seed')}")
    title = f"{k}-fold cross-validation, seeds {seed_text}"
    detail = (f"{k} stratified folds ({repeats}), each patient/row a test row once "
              f"per split seed, x seeds {seed_text}: {len(runs)} runs")
  elif split_seeds:
    title = f"protocol (b): {len(split_seeds)} stratified splits"
    detail = (f"split seeds {', '.join(str(s) for s in split_seeds)} x seeds "
              f"{seed_text}: {len(runs)} runs")
  else:
    split_seed = (config.get("split") or {}).get("split_seed")
    title = f"protocol (a): one split, seeds {seed_text}"
    detail = f"split seed {split_seed}: {len(runs)} runs"
  return title, detail


def binary_section(name: str, results: dict
                   ) -> tuple[list[str], list[dict[str, Any]]]:
  """Markdown lines and CSV rows of the per-file layout (binary tasks)."""
  dataset = results["dataset"]
  with_paper = dataset == "physionet2012"
  title, detail = protocol_of(results)

  def paper(method, metric):
    if not with_paper:
      return None
    v = paper_numbers.physionet2012_metric(method, metric)
    return None if v is None else (v, None)

  header = ["method"] + [METRIC_LABELS[m] for m in METRICS]
  if with_paper:
    header += [f"paper {METRIC_LABELS[m]}" for m in METRICS]
  header += ["best_step (median)", "wall s"]
  rows, csv_rows = [], []
  for method in ordered_methods(results["methods"]):
    res = results["methods"][method]
    row = [method] + [_mean_std(res["test"].get(m)) for m in METRICS]
    if with_paper:
      row += [f"{v:.2f}" if (v := paper_numbers.physionet2012_metric(method, m))
              is not None else _DASH for m in METRICS]
    steps = res.get("best_step") or []
    median = float(np.median(steps)) if steps else None
    row += [_DASH if median is None else f"{median:g}", f"{res['wall_seconds']:.0f}"]
    rows.append(row)
    runs = n_runs(results, method)
    csv_rows += _metric_rows(name, title, method, res, runs,
                             lambda metric, m=method: paper(m, metric))
    for metric, value in (("best_step_median", median),
                          ("wall_seconds", res["wall_seconds"])):
      csv_rows.append({"file": name, "setting": title, "method": method,
                       "metric": metric, "mean": _round(value), "std": "",
                       "n_runs": runs, "paper_mean": "", "paper_std": ""})
  lines = [f"## {dataset}, {title}", "", f"`{name}`: {detail}.", ""]
  lines += _table(header, rows)
  note = ("Test metrics (%) of the best-on-validation parameters, mean ± std over "
          "runs.")
  if with_paper:
    note += (" Paper: Table 6 (about 12,000 patients, 1024-unit LSTM, one number per "
             "cell, checkpoints selected on the test set).")
  summary = results.get("data_summary", {})
  if "rows" in summary:
    note += f" Rows: {summary['rows']}."
  if "positive_rate" in summary:
    note += (" Positive rate: " + ", ".join(
        f"{k} {v:.3f}" for k, v in summary["positive_rate"].items()) + ".")
  lines += ["", note, ""]
  return lines, csv_rows


def cv_section(name: str, results: dict
               ) -> tuple[list[str], list[dict[str, Any]]]:
  """Per-fold test metrics of a cross-validated file (``config.cv_folds``): one
  row per method, one column per fold, then the mean ± std over folds."""
  k = results["cv_folds"]
  first = next(iter(results["methods"].values()))["test"]
  metrics = [m for m in (*METRICS, *first) if m in first]
  metrics = list(dict.fromkeys(metrics))
  lines, csv_rows = [f"## {results['dataset']}: per fold ({k}-fold "
                     f"cross-validation)", "", f"`{name}`.", ""], []
  for metric in metrics:
    header = ["method"] + [f"fold {i}" for i in range(k)] + ["mean ± std over folds"]
    rows = []
    for method in ordered_methods(results["methods"]):
      summary = results["methods"][method]["test"].get(metric) or {}
      per_fold = summary.get("per_fold")
      if not per_fold:
        continue
      fold_std = summary.get("fold_std", 0.0)
      rows.append([method] + [f"{100 * v:.2f}" for v in per_fold]
                  + [f"{100 * np.mean(per_fold):.2f} ± {100 * fold_std:.2f}"])
      for i, v in enumerate(per_fold):
        csv_rows.append({"file": name, "setting": f"fold {i}", "method": method,
                         "metric": metric, "mean": _round(100 * v), "std": "",
                         "n_runs": "", "paper_mean": "", "paper_std": ""})
    if rows:
      lines += [f"{METRIC_LABELS.get(metric, metric)} (%):", ""]
      lines += _table(header, rows) + [""]
  return lines, csv_rows


def build_report(files: Sequence[tuple[str, dict]], table: str = "auto",
                 title: str | None = None,
                 same_as: dict[str, str] | None = None) -> Report:
  """The report of ``(name, results)`` pairs (see ``load_results``)."""
  if not files:
    raise ValueError("no results files given")
  for name, results in files:
    check_results(results, name)
  warnings: list[str] = []
  by_dataset: dict[str, list[tuple[str, dict]]] = {}
  binary: list[tuple[str, dict]] = []
  for name, results in files:
    if table_kind(results, table) == "mnist":
      by_dataset.setdefault(results["dataset"], []).append((name, results))
    else:
      binary.append((name, results))
  lines = [f"# {title or 'GIL results against the paper'}", ""]
  rows: list[dict[str, Any]] = []
  for group in by_dataset.values():
    section, section_rows = mnist_section(group, warnings, same_as)
    lines += section
    rows += section_rows
  for name, results in binary:
    section, section_rows = binary_section(name, results)
    lines += section
    rows += section_rows
  for name, results in files:
    if results.get("cv_folds"):
      section, section_rows = cv_section(name, results)
      lines += section
      rows += section_rows
  if warnings:
    lines += ["## Warnings", ""] + [f"- {w}" for w in warnings] + [""]
  return Report("\n".join(lines).rstrip() + "\n", rows, warnings)


def write_csv(rows: Sequence[dict[str, Any]], path: str) -> None:
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerows(rows)


def write_report(paths: Sequence[str], out_dir: str, table: str = "auto",
                 title: str | None = None,
                 same_as: dict[str, str] | None = None) -> Report:
  """Reads ``paths``, writes ``out_dir/report.md`` and ``out_dir/report.csv``."""
  report = build_report(load_results(paths), table=table, title=title,
                        same_as=same_as)
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, "report.md"), "w") as f:
    f.write(report.markdown)
  write_csv(report.rows, os.path.join(out_dir, "report.csv"))
  return report


FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command-line flags (defined only when run as a script, so that tests
  can import this module beside other launchers)."""
  flags.DEFINE_list("results", None, "Comma-separated results.json files; A+B "
                    "joins files of one dataset and split whose methods ran apart "
                    "into one table, X|Y concatenates the runs of launches of the "
                    "same methods (as launch.paired_report).")
  flags.DEFINE_string("out", None, "Directory for report.md and report.csv.")
  flags.DEFINE_enum("table", "auto", TABLES, "Layout: auto (per file), mnist "
                    "(settings x methods) or physionet2012 (one table per file).")
  flags.DEFINE_string("title", None, "Title of the markdown report.")
  flags.DEFINE_string("merge_to", None, "Also write the --results files (one "
                      "setting, methods run apart) merged into this one results "
                      "file (launch.results.merge_results).")
  flags.DEFINE_list("same_as", None, "ALIAS:METHOD pairs (settings layout): show "
                    "METHOD's runs as ALIAS where ALIAS was not run because it is the "
                    "same computation, e.g. zero:mean,gil_h:mean on standardised "
                    "inputs.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Too many command-line arguments: {argv[1:]}")
  report = write_report(FLAGS.results or [], FLAGS.out, table=FLAGS.table,
                        title=FLAGS.title, same_as=parse_same_as(FLAGS.same_as))
  print(report.markdown)
  print(f"wrote {os.path.join(FLAGS.out, 'report.md')} and "
        f"{os.path.join(FLAGS.out, 'report.csv')}")
  if FLAGS.merge_to:
    merged = results_lib.merge_results(load_results(FLAGS.results))
    results_lib.write_json(merged, FLAGS.merge_to)
    print(f"wrote {FLAGS.merge_to} ({len(merged['methods'])} methods)")


if __name__ == "__main__":
  define_flags()
  flags.mark_flags_as_required(["results", "out"])
  user_errors.run(main)   # mistakes as one line, not after the flag help
