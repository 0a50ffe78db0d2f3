r"""Tables of docs/results/sepsis2019.md from the launcher's results files.

  python docs/results/sepsis2019_tables.py \
      --varied=runs/sepsis_varied --fixed=runs/sepsis_fixed \
      --out=docs/results/sepsis2019_tables.md --json=docs/results/sepsis2019.json

Reads ``DIR/placeholder_*/results.json`` of each protocol (``launch.train
--config=launch/configs/sepsis2019.py:PROTOCOL``) and writes:

* per protocol, every method at each placeholder: AUROC / AUPRC / accuracy (mean
  +/- std over the five splits) beside the paper's Table 1 (MIMIC-III, a
  different cohort);
* paired differences over the splits (mean and standard error of the per-split
  differences): gil - gil_h, gil - mean, mean_mask - gil, the best mask-aware
  LSTM - gil, hgb - gil and hgb - the best network (the "best" chosen by mean
  *validation* AUROC, never test), and fixed - varied per method (the same
  patients and splits in both protocols);
* the AUROC of the window length alone on each test split, with the cohort's
  uniform negative windows and with ``negative_window="matched"`` (a shortcut
  the uniform design leaves in the data, see data_prep/physionet2019.py). This
  loads the data only (no training).

The JSON holds every number of the markdown plus the per-split values.
"""

from __future__ import annotations

import glob
import json
import math
import os
import sys

import numpy as np
from absl import app, flags

# Run as a script from the repository root: put the root (which holds launch/
# and data_prep/) on the path, two levels above this file.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
from launch import paper_numbers  # pylint: disable=g-import-not-at-top

METRICS = ("auroc", "auprc", "accuracy")
# Methods that see which entries are missing (mask inputs, decay, native NaN);
# the LSTM ones share GIL's predictor, boosting does not.
MASK_AWARE_LSTM = ("mean_mask", "carry_forward_mask", "grud")
MASK_AWARE = MASK_AWARE_LSTM + ("hgb",)
FLAGS = flags.FLAGS
flags.DEFINE_string("varied", None, "Workdir of the varied-length command.")
flags.DEFINE_string("fixed", None, "Workdir of the fixed-length command.")
flags.DEFINE_string("varied_matched", None, "Optional: workdir of the matched-"
                    "negative-window diagnostic (varied protocol, "
                    "--config.data.negative_window=matched); its tables are "
                    "added when given.")
flags.DEFINE_string("out", "docs/results/sepsis2019_tables.md", "Markdown output.")
flags.DEFINE_string("json", "docs/results/sepsis2019.json", "JSON output.")
flags.DEFINE_bool("length_check", True, "Score the window length alone, with "
                  "uniform and matched negative windows (loads the data).")


def load_protocol(workdir: str) -> dict[str, dict]:
  """``{placeholder label: results}`` of a protocol's grid workdir."""
  out = {}
  for path in sorted(glob.glob(os.path.join(workdir, "placeholder_*",
                                            "results.json"))):
    with open(path) as f:
      res = json.load(f)
    out[str(res["config"]["placeholder"])] = res
  if not out:
    raise FileNotFoundError(f"no placeholder_*/results.json under {workdir!r}")
  return out


def _per_split(res: dict, method: str, metric: str, split: str = "test"):
  return np.asarray(res["methods"][method][split][metric]["per_run"], float)


def paired(a: np.ndarray, b: np.ndarray) -> dict:
  """Mean and standard error of the per-split differences ``a - b``."""
  d = np.asarray(a, float) - np.asarray(b, float)
  se = float(np.std(d, ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan")
  return {"mean": float(d.mean()), "se": se, "per_split": d.tolist()}


def _pct(summary: dict) -> str:
  return f"{100 * summary['mean']:.2f} ± {100 * summary['std']:.2f}"


def _diff(d: dict) -> str:
  return f"{100 * d['mean']:+.2f} ± {100 * d['se']:.2f}"


def method_table(protocol: str, by_ph: dict[str, dict],
                 title: str | None = None) -> list[str]:
  lines = [f"### {title or protocol + ' length'}", "",
           "| method | placeholder | AUROC | AUPRC | accuracy | paper AUROC | "
           "paper accuracy | best step (median) | wall s |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for ph, res in by_ph.items():
    for method, r in res["methods"].items():
      paper = [paper_numbers.mimic_table1_metric(method, protocol, m)
               for m in ("auroc", "accuracy")]
      cells = [_pct(r["test"][m]) for m in METRICS]
      cells += ["—" if v is None else f"{v:.2f}" for v in paper]
      lines.append(f"| {method} | {ph} | " + " | ".join(cells)
                   + f" | {np.median(r['best_step']):g} | {r['wall_seconds']:.0f} |")
  return lines + [""]


def comparisons(by_ph: dict[str, dict]) -> dict:
  """The paired differences of one protocol, per placeholder."""
  out = {}
  base = by_ph.get("0.0") or next(iter(by_ph.values()))
  for ph, res in by_ph.items():
    methods = res["methods"]
    # Baselines that ignore the placeholder ran at 0 only: borrow them.
    pool = dict(base["methods"], **methods)
    rows = {}
    if "gil" not in methods:
      continue
    for other in ("gil_h", "mean"):
      if other in pool:
        src = res if other in methods else base
        rows[f"gil - {other}"] = {m: paired(_per_split(res, "gil", m),
                                            _per_split(src, other, m))
                                  for m in METRICS}
    def diff(a, b, chosen=False):
      src_a = res if a in methods else base
      src_b = res if b in methods else base
      d = {m: paired(_per_split(src_a, a, m), _per_split(src_b, b, m))
           for m in METRICS}
      if chosen:
        d["chosen_by"] = "mean validation AUROC"
      rows[f"{a} - {b}"] = d

    def best_of(group):
      cands = [m for m in group if m in pool]
      return max(cands, key=lambda m: pool[m]["val"]["auroc"]["mean"],
                 default=None)

    if "mean_mask" in pool:
      diff("mean_mask", "gil")
    best_aware = best_of(MASK_AWARE_LSTM)
    if best_aware not in (None, "mean_mask"):
      diff(best_aware, "gil", chosen=True)
    if "hgb" in pool:
      diff("hgb", "gil")
      # The best LSTM of this placeholder (GIL's variants read it).
      best_net = best_of([m for m in pool if m != "hgb"])
      if best_net not in (None, "gil"):
        diff("hgb", best_net, chosen=True)
    out[ph] = rows
  return out


def comparison_lines(protocol: str, comp: dict) -> list[str]:
  lines = [f"### {protocol}: paired differences (percentage points, "
           "mean ± standard error over the 5 splits)", "",
           "| placeholder | comparison | AUROC | AUPRC | accuracy |",
           "| --- | --- | --- | --- | --- |"]
  for ph, rows in comp.items():
    for name, d in rows.items():
      lines.append(f"| {ph} | {name} | "
                   + " | ".join(_diff(d[m]) for m in METRICS) + " |")
  return lines + [""]


def shift_lines(varied: dict, fixed: dict) -> tuple[list[str], dict]:
  """Fixed - varied per method and placeholder (same patients and splits)."""
  lines = ["### From varied to fixed length: fixed - varied (percentage points, "
           "mean ± standard error over the 5 splits)", "",
           "| method | placeholder | AUROC | AUPRC | accuracy |",
           "| --- | --- | --- | --- | --- |"]
  out = {}
  for ph in varied:
    if ph not in fixed:
      continue
    for method in varied[ph]["methods"]:
      if method not in fixed[ph]["methods"]:
        continue
      d = {m: paired(_per_split(fixed[ph], method, m),
                     _per_split(varied[ph], method, m)) for m in METRICS}
      out[f"{method}@{ph}"] = d
      lines.append(f"| {method} | {ph} | "
                   + " | ".join(_diff(d[m]) for m in METRICS) + " |")
  # Does a method keep more of its varied-length score than mean imputation?
  lines += ["", "The same change minus mean imputation's (positive: the method "
            "loses less than mean imputation):", "",
            "| method | placeholder | AUROC | AUPRC | accuracy |",
            "| --- | --- | --- | --- | --- |"]
  for key, d in list(out.items()):
    method, ph = key.split("@")
    ref = out.get(f"mean@{ph}") or out.get("mean@0.0")
    if method not in ("gil", "gil_d", "gil_h") or ref is None:
      continue
    rel = {m: paired(d[m]["per_split"], ref[m]["per_split"]) for m in METRICS}
    out[f"{key} - mean"] = rel
    lines.append(f"| {method} - mean | {ph} | "
                 + " | ".join(_diff(rel[m]) for m in METRICS) + " |")
  return lines + [""], out


def summary_lines(protocols: dict[str, dict], record: dict) -> list[str]:
  """The compact AUROC tables of sepsis2019.md (both protocols side by side).

  ``record`` must hold each protocol's ``paired`` and ``fixed_minus_varied``.
  """
  phs = [ph for ph in protocols["varied"] if ph in protocols["fixed"]]
  cols = [(p, ph) for p in ("varied", "fixed") for ph in phs]
  head = " | ".join(f"{p}, {ph}" for p, ph in cols)
  lines = ["### Summary: test AUROC (%) beside the paper's Table 1", "",
           f"| method | {head} | paper varied | paper fixed |",
           "| --- |" + " --- |" * (len(cols) + 2)]
  methods = list(protocols["varied"][phs[0]]["methods"])
  for method in methods:
    cells = [_pct(protocols[p][ph]["methods"][method]["test"]["auroc"])
             if method in protocols[p][ph]["methods"] else "—"
             for p, ph in cols]
    paper = [paper_numbers.mimic_table1_metric(method, p, "auroc")
             for p in ("varied", "fixed")]
    cells += ["—" if v is None else f"{v:.2f}" for v in paper]
    lines.append(f"| {method} | " + " | ".join(cells) + " |")
  lines += ["", "### Summary: paired AUROC differences (percentage points, "
            "mean ± SE over the 5 splits)", "",
            f"| comparison | {head} |", "| --- |" + " --- |" * len(cols)]
  names = (("gil - gil_h", "gil - gil_h"), ("gil - mean", "gil - mean"),
           ("mean_mask - gil", "mean_mask - gil"), ("hgb - gil", "hgb - gil"))
  for label, key in names:
    cells = [_diff(record[p]["paired"][ph][key]["auroc"])
             if key in record[p]["paired"].get(ph, {}) else "—"
             for p, ph in cols]
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
  cells = []
  for p, ph in cols:
    key = next((k for k in record[p]["paired"].get(ph, {})
                if k.startswith("hgb - ") and k != "hgb - gil"), None)
    cells.append("—" if key is None else
                 f"{_diff(record[p]['paired'][ph][key]['auroc'])} "
                 f"({key.split(' - ')[1]})")
  lines.append("| hgb - best network (by validation AUROC) | "
               + " | ".join(cells) + " |")
  shift = record["fixed_minus_varied"]
  lines += ["", "### Summary: fixed - varied AUROC per method (percentage "
            "points, mean ± SE over the 5 splits; same patients and splits)", "",
            "| method | " + " | ".join(phs) + " | paper |",
            "| --- |" + " --- |" * (len(phs) + 1)]
  for method in methods:
    cells = [_diff(shift[f"{method}@{ph}"]["auroc"])
             if f"{method}@{ph}" in shift else "—" for ph in phs]
    paper = [paper_numbers.mimic_table1_metric(method, p, "auroc")
             for p in ("fixed", "varied")]
    cells.append("—" if None in paper else f"{paper[0] - paper[1]:+.2f}")
    lines.append(f"| {method} | " + " | ".join(cells) + " |")
  for method in ("gil", "gil_d"):
    cells = [_diff(shift[f"{method}@{ph} - mean"]["auroc"])
             if f"{method}@{ph} - mean" in shift else "—" for ph in phs]
    paper = [paper_numbers.mimic_table1_metric(m, p, "auroc")
             for m in (method, "mean") for p in ("fixed", "varied")]
    cells.append("—" if None in paper else
                 f"{(paper[0] - paper[1]) - (paper[2] - paper[3]):+.2f}")
    lines.append(f"| {method}'s change - mean's | " + " | ".join(cells) + " |")
  return lines + [""]


def length_check(config: dict, negative_window: str | None = None) -> dict:
  """AUROC of the window length alone on each test split of the config's runs.

  ``negative_window`` overrides the config's (``"matched"``: the diagnostic
  cohort whose negatives copy the positives' window lengths).
  """
  from sklearn.metrics import roc_auc_score
  from data_prep import physionet2019
  from gil_jax.data import stratified_split
  data = config["data"]
  raw = physionet2019.load_sequences(
      protocol=data["protocol"], gap_hours=data["gap_hours"],
      min_window_hours=data["min_window_hours"], seed=data["seed"],
      negative_window=(negative_window
                       or data.get("negative_window", "uniform")))
  split = config["split"]
  scores = []
  for s in config["split_seeds"]:
    _, _, test = stratified_split(raw.y, split["val_fraction"],
                                  split["test_fraction"], s)
    scores.append(float(roc_auc_score(raw.y[test], raw.length[test])))
  return {"mean": float(np.mean(scores)), "std": float(np.std(scores, ddof=1)),
          "per_split": scores}


def _record(by_ph: dict[str, dict], comp: dict) -> dict:
  """The JSON entry of one workdir: per-split results and paired differences."""
  return {
      "results": {ph: {"methods": {m: {"test": r["test"], "val": r["val"],
                                       "best_step": r["best_step"],
                                       "wall_seconds": r["wall_seconds"]}
                                   for m, r in res["methods"].items()},
                       "runs": res["runs"], "data_summary": res["data_summary"]}
                  for ph, res in by_ph.items()},
      "paired": comp,
  }


def main(argv):
  del argv
  lines, record = ["## Tables", ""], {}
  protocols = {p: load_protocol(d) for p, d in (("varied", FLAGS.varied),
                                                ("fixed", FLAGS.fixed)) if d}
  for protocol, by_ph in protocols.items():
    lines += method_table(protocol, by_ph)
    comp = comparisons(by_ph)
    lines += comparison_lines(f"{protocol} length", comp)
    record[protocol] = _record(by_ph, comp)
    if FLAGS.length_check:
      first = next(iter(by_ph.values()))
      record[protocol]["length_only_auroc"] = length_check(first["config"])
      record[protocol]["length_only_auroc_matched"] = length_check(
          first["config"], negative_window="matched")
  if len(protocols) == 2:
    shift, record["fixed_minus_varied"] = shift_lines(protocols["varied"],
                                                      protocols["fixed"])
    lines += shift
    # The page's tables first.
    lines[2:2] = summary_lines(protocols, record)
  if FLAGS.length_check:
    lines += ["### Window length alone (test AUROC, mean ± std over the splits)",
              "", "| protocol | uniform negative windows (the runs) | "
              "matched negative windows |", "| --- | --- | --- |"]
    for protocol in protocols:
      s = record[protocol]["length_only_auroc"]
      t = record[protocol]["length_only_auroc_matched"]
      lines.append(f"| {protocol} | {100 * s['mean']:.2f} ± {100 * s['std']:.2f}"
                   f" | {100 * t['mean']:.2f} ± {100 * t['std']:.2f} |")
    lines.append("")
  if FLAGS.varied_matched:
    # The diagnostic cohort: other negatives, so nothing in it is paired with
    # the main runs; its own paired differences only.
    title = "varied length, matched negative windows (diagnostic)"
    by_ph = load_protocol(FLAGS.varied_matched)
    comp = comparisons(by_ph)
    lines += method_table("varied_matched", by_ph, title=title)
    lines += comparison_lines(title, comp)
    record["varied_matched"] = _record(by_ph, comp)
  record["config"] = {p: next(iter(b.values()))["config"]
                      for p, b in protocols.items()}
  text = "\n".join(lines)
  print(text)
  with open(FLAGS.out, "w") as f:
    f.write(text + "\n")
  with open(FLAGS.json, "w") as f:
    json.dump(record, f, indent=1)
  print(f"wrote {FLAGS.out} and {FLAGS.json}")


if __name__ == "__main__":
  app.run(main)
