r"""Per-dataset method tables with paired differences, from results.json files.

  python -m launch.paired_report \
      --results=runs/tables/thyroid0387/results.json,runs/tables/adult/results.json \
      --pairs=gil:mean,gil:mean_mask,best_network:hgb \
      --networks=gil,mean,mean_mask,mice --same_as=gil_h:mean \
      --out=docs/results/tables_report.md --json_dir=docs/results --json_prefix=tables_

For each results file: a method x metric table (test metrics of the
best-on-validation parameters, mean +/- std over runs, wall seconds) and, for each
``A:B`` pair, the mean paired difference ``A - B`` over the runs (every method of one
file ran on the same splits and seeds) with its standard error
``std(differences, ddof=1) / sqrt(n)``.  ``best_network`` stands for the method of
``--networks`` with the best mean VALIDATION score of the selection metric (the test
split chooses nothing).  ``--same_as=ALIAS:METHOD`` shows a method that was not run
because it is the same computation as one that was (e.g. GIL-H = mean imputation on
standardised inputs with placeholder 0).  With ``--json_dir`` each results file is
copied there as ``<prefix><dataset>.json``.  ``FILE@SUFFIX`` appends ``SUFFIX`` to
the names of that file's methods, so that a rerun of one method with other settings
(e.g. ``runs/meta_w128/results.json@_w128``: ``gil_meta_w128``) sits beside the
original in one table; ``FILE@SUFFIX:METHOD`` takes only ``METHOD`` from that file
(``FILE@_w400:gil_meta``: one row ``gil_meta_w400``, not every method of ``FILE``).
``X|Y`` concatenates the runs of launches that ran the same methods on more seeds
(``s0-4/results.json|s5-9/results.json``: ten runs per method); each of ``X``, ``Y``
may be a ``+`` join (``gil/r.json+mean/r.json|s5-9/r.json``).
"""

from __future__ import annotations

import json
import os

import numpy as np
from absl import app, flags

from launch import user_errors
from launch.results import read_results_file, summarise

METRICS = ("auroc", "auprc", "accuracy")
LABELS = {"auroc": "AUROC", "auprc": "AUPRC", "accuracy": "accuracy"}

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_list("results", None, "results.json files, one per dataset; "
                    "A+B joins files of one dataset whose methods ran apart; "
                    "A|B concatenates the runs of launches of the same methods.")
  flags.DEFINE_list("pairs", ["gil:mean"], "A:B pairs; A - B per run.")
  flags.DEFINE_list("networks", ["gil", "mean", "mean_mask", "mice"],
                    "Methods that count as networks for best_network.")
  flags.DEFINE_list("same_as", [], "ALIAS:METHOD rows shown as the same runs.")
  flags.DEFINE_string("out", None, "Markdown output file.")
  flags.DEFINE_string("json_dir", None, "Copy each results file here.")
  flags.DEFINE_string("json_prefix", "tables_", "Prefix of the copied files.")
  flags.DEFINE_list("metrics", list(METRICS), "Metrics, in column order; the first "
                    "one counts the wins.")
  flags.DEFINE_list("names", [], "One name per --results entry: the section title "
                    "and the copied file's name (default: the dataset).")
  flags.mark_flags_as_required(["results", "out"])


def _per_run(results: dict, method: str, metric: str) -> dict[str, float]:
  """``{run: score}``; a run is named by its seeds (``{"seed": 0, ...}``)."""
  res = results["methods"][method]
  runs = res.get("runs", results["runs"])
  scores = res["test"][metric]["per_run"]
  if len(runs) != len(scores):
    raise ValueError(f"{method}: {len(scores)} scores for {len(runs)} runs")
  return {json.dumps(r, sort_keys=True): float(v) for r, v in zip(runs, scores)}


def paired(results: dict, a: str, b: str, metric: str) -> dict:
  """Mean and standard error of the per-run differences ``a - b``.

  Runs are matched by their seeds, not by position (files joined with ``+`` may
  list them in different orders).  A method with a single run (e.g. a
  deterministic baseline run for one seed of the same split) is compared with
  every run of the other.
  """
  x, y = _per_run(results, a, metric), _per_run(results, b, metric)
  if len(x) == 1 or len(y) == 1:
    (only,) = (y if len(y) == 1 else x).values()
    other = x if len(y) == 1 else y
    d = [(v - only) if len(y) == 1 else (only - v) for v in other.values()]
  elif x.keys() != y.keys():
    raise ValueError(f"{a} and {b} ran different runs: only {a}: "
                     f"{sorted(x.keys() - y.keys())}; only {b}: "
                     f"{sorted(y.keys() - x.keys())}")
  else:
    d = [x[k] - y[k] for k in sorted(x)]
  d = np.asarray(d, np.float64)
  se = float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
  return {"mean": float(d.mean()), "se": se, "n": int(len(d)),
          "wins": int((d > 0).sum())}


def concatenated(parts: list[dict], names: list[str]) -> dict:
  """One results dict from launches that ran the same methods on more runs of one
  dataset (``X|Y``: e.g. mask seeds 0-4, then 5-9): each method's runs and per-run
  test and validation scores, in order, summarised again; wall seconds summed.
  Every part must hold the same methods and no run may appear twice."""
  first = parts[0]
  for res, name in zip(parts[1:], names[1:]):
    if (res["dataset"] != first["dataset"] or any(
        res.get("data_summary", {}).get(k) != first.get("data_summary", {}).get(k)
        for k in ("rows", "features"))):
      raise ValueError(f"{name}: another dataset than {names[0]}")
    if set(res["methods"]) != set(first["methods"]):
      raise ValueError(f"{name} ran {sorted(res['methods'])}, {names[0]} "
                       f"{sorted(first['methods'])}: concatenate runs of the same "
                       "methods only")
  methods = {}
  for method in first["methods"]:
    runs_of = [r["methods"][method] for r in parts]
    runs = [run for r, m in zip(parts, runs_of) for run in m.get("runs", r["runs"])]
    keys = [json.dumps(run, sort_keys=True) for run in runs]
    if len(set(keys)) != len(keys):
      raise ValueError(f"{method}: a run appears in more than one of {names}")
    merged = {"runs": runs,
              "best_step": [s for m in runs_of for s in m["best_step"]],
              "wall_seconds": sum(m["wall_seconds"] for m in runs_of)}
    for split in ("test", "val"):
      metrics = list(runs_of[0][split])
      merged[split] = summarise(
          [dict(zip(metrics, values)) for m in runs_of
           for values in zip(*(m[split][k]["per_run"] for k in metrics))])
    methods[method] = merged
  return dict(first, methods=methods, runs=methods[next(iter(methods))]["runs"],
              concatenated_from=list(names))


def load(spec: str) -> dict:
  """``A+B`` joins files of one dataset whose methods ran apart (:func:`joined`);
  ``X|Y`` concatenates the runs of two such joins (:func:`concatenated`)."""
  names = spec.split("|")
  parts = [joined(name.split("+")) for name in names]
  return parts[0] if len(parts) == 1 else concatenated(parts, names)


def joined(paths: list[str]) -> dict:
  """One results dict from files of one dataset and split whose methods ran
  apart (possibly with fewer seeds); each method keeps its own ``runs``; a method
  in several files is taken from the first."""
  out = None
  for path in paths:
    path, _, suffix = path.partition("@")
    suffix, _, only = suffix.partition(":")
    res = read_results_file(path)
    if only:
      if only not in res["methods"]:
        raise ValueError(f"{path} has no method {only!r}")
      res["methods"] = {only: res["methods"][only]}
    if suffix:
      res["methods"] = {m + suffix: v for m, v in res["methods"].items()}
    for m in res["methods"].values():
      m.setdefault("runs", res["runs"])   # a joined file keeps each method's own
    if out is None:
      out, out["joined_from"], twice = res, [], []
    else:
      # Keys only one summary has (fields added to the summary later) are not
      # compared; every shared one must agree.
      a, b = res.get("data_summary", {}), out.get("data_summary", {})
      differ = sorted(k for k in a.keys() & b.keys() if a[k] != b[k])
      if res["dataset"] != out["dataset"] or differ:
        what = (f"dataset {res['dataset']!r}, not {out['dataset']!r}"
                if res["dataset"] != out["dataset"]
                else f"data_summary differs in {', '.join(differ)}")
        raise ValueError(f"{path}: another dataset or split than {paths[0]} "
                         f"({what}); join files of one dataset and split only")
      # A method already given by an earlier file keeps that file's runs (list
      # the file with more seeds first); the ignored ones are recorded.
      twice = sorted(set(res["methods"]) & set(out["methods"]))
      for m in twice:
        del res["methods"][m]
      out["methods"].update(res["methods"])
    out["joined_from"].append({"file": path, "methods": list(res["methods"]),
                               "ignored_methods": twice, "config": res["config"]})
  return out


def check_pairs(pairs: list[tuple[str, str]], loaded: list[dict],
                files: list[str]) -> None:
  """Every method a pair names ran in at least one of the results (a pair may
  apply to some files only); ``best_network`` stands for a network of
  ``--networks``."""
  ran = set().union(*(r["methods"] for r in loaded))
  for pair in pairs:
    if len(pair) != 2:
      raise ValueError(f"--pairs {':'.join(pair)!r}: write METHOD_A:METHOD_B")
    for method in pair:
      if method != "best_network" and method not in ran:
        raise ValueError(f"--pairs {pair[0]}:{pair[1]}: method {method!r} is in none "
                         f"of the results {files} (they hold {sorted(ran)})")


def best_network(results: dict, networks: list[str]) -> str:
  """The network with the best mean validation selection score."""
  metric = results["config"]["train"]["selection_metric"]
  metric = {"neg_loss": "accuracy"}.get(metric, metric)
  present = [m for m in networks if m in results["methods"]]
  if not present:
    raise ValueError(f"none of the networks {networks} ran")
  return max(present, key=lambda m: results["methods"][m]["val"][metric]["mean"])


def section(results: dict, pairs: list[tuple[str, str]], networks: list[str],
            same_as: dict[str, str], metrics: tuple[str, ...] = METRICS,
            name: str | None = None) -> str:
  methods = results["methods"]
  s = results["data_summary"]
  runs = results["runs"]
  lines = [f"### {name or results['dataset']}", "",
           f"Rows {s['rows']}, {s['features']} encoded features, missing rate "
           f"{100 * s['missing_rate']['train']:.1f} % of training cells; "
           f"{len(runs)} runs ({', '.join(sorted(runs[0]))}).", "",
           "| method | " + " | ".join(LABELS[m] for m in metrics)
           + " | runs | seconds (all runs) |",
           "| --- " * (len(metrics) + 3) + "|"]
  order = list(methods)
  for alias, source in same_as.items():
    if source in methods and alias not in methods:
      order.insert(order.index(source), alias)
  for name in order:
    res = methods[same_as.get(name, name)] if name not in methods else methods[name]
    cells = []
    for m in metrics:
      if m in res["test"]:
        cells.append(f"{100 * res['test'][m]['mean']:.2f} ± "
                     f"{100 * res['test'][m]['std']:.2f}")
      else:
        cells.append("—")
    label = name if name in methods else f"{name} (= {same_as[name]}, same runs)"
    seconds = ("—" if name not in methods else f"{res['wall_seconds']:.0f}")
    n_runs = len(res["test"][metrics[0]]["per_run"])
    lines.append(f"| {label} | " + " | ".join(cells) + f" | {n_runs} | {seconds} |")
  lines += ["", "Paired differences (percentage points, mean ± standard error over "
            "runs; wins = runs where the first is higher):", "",
            "| comparison | " + " | ".join(f"Δ {LABELS[m]}" for m in metrics)
            + f" | wins ({LABELS[metrics[0]]}) |",
            "| --- " * (len(metrics) + 2) + "|"]
  for a, b in pairs:
    a_name = best_network(results, networks) if a == "best_network" else a
    if a_name not in methods or b not in methods:
      continue
    cells, wins = [], ""
    for m in metrics:
      if m not in methods[a_name]["test"]:
        cells.append("—")
        continue
      p = paired(results, a_name, b, m)
      cells.append(f"{100 * p['mean']:+.2f} ± {100 * p['se']:.2f}"
                   if np.isfinite(p["se"]) else f"{100 * p['mean']:+.2f} (one run)")
      if m == metrics[0]:
        wins = f"{p['wins']}/{p['n']}"
    label = (f"best network ({a_name}, by validation) − {b}"
             if a == "best_network" else f"{a} − {b}")
    lines.append(f"| {label} | " + " | ".join(cells) + f" | {wins} |")
  return "\n".join(lines)


def main(argv):
  del argv
  pairs = [tuple(p.split(":")) for p in FLAGS.pairs]
  bad = [p for p in FLAGS.same_as if len(p.split(":")) != 2]
  if bad:
    raise ValueError(f"--same_as {bad[0]!r}: write ALIAS:METHOD (e.g. gil_h:mean)")
  same_as = dict(p.split(":") for p in FLAGS.same_as)
  if FLAGS.names and len(FLAGS.names) != len(FLAGS.results):
    raise app.UsageError(f"--names has {len(FLAGS.names)} entries for "
                         f"{len(FLAGS.results)} --results")
  unknown = sorted(set(FLAGS.metrics) - set(LABELS))
  if unknown:
    raise ValueError(f"--metrics {unknown}: unknown; choose from {sorted(LABELS)}")
  loaded = [load(paths) for paths in FLAGS.results]
  check_pairs(pairs, loaded, FLAGS.results)
  parts = []
  for i, (paths, results) in enumerate(zip(FLAGS.results, loaded)):
    name = FLAGS.names[i] if FLAGS.names else results["dataset"]
    parts.append(section(results, pairs, FLAGS.networks, same_as,
                         tuple(FLAGS.metrics), name))
    if FLAGS.json_dir:
      with open(os.path.join(FLAGS.json_dir, f"{FLAGS.json_prefix}{name}.json"),
                "w") as f:
        json.dump(results, f, indent=2)
  with open(FLAGS.out, "w") as f:
    f.write("\n\n".join(parts) + "\n")
  print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
  define_flags()
  user_errors.run(main)
