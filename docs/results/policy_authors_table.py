r"""Table of the authors'-mode MNIST study from its results files.

  python docs/results/policy_authors_table.py [--dir=docs/results] [--out=FILE]

Reads ``policy_authors_<switch>_mcar<rate>.json`` (written by
``launch.train --config=launch/configs/mnist_authors.py:<switch>``) and prints, per
missing rate and switch, the test accuracy of GIL, GIL-H and zero imputation
(best-on-validation parameters, mean ± std over the 5 mask seeds), the paired
differences GIL - GIL-H, GIL - zero and GIL-H - zero (mean ± standard error over
the mask seeds) and the same three methods under the authors' test-selection
protocol (best test score over the evaluations; optimistic, never our result).
Policy-only switches do not change GIL-H and zero imputation: their rows take them
from the ``default`` file (same mask seeds, same runs).
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

SWITCHES = ("default", "bn", "l2", "reward", "one_draw", "near_one", "rl_decay",
            "all")
LABELS = {"default": "none (paper's method)", "bn": "1 batch norm",
          "l2": "2 L2 in per-example loss", "reward": "3 reward before update",
          "one_draw": "4 one draw per batch", "near_one": "5 near-1 random",
          "rl_decay": "6 RL rate decay", "all": "1-6 together"}
METHODS = ("gil", "gil_h", "zero")
PAPER = {50: {"gil": 96.29, "gil_h": 96.08, "zero": 95.83},
         90: {"gil": 78.47, "gil_h": 78.44, "zero": 76.67}}


def _load(directory: str, switch: str, rate: int) -> dict | None:
  path = os.path.join(directory, f"policy_authors_{switch}_mcar{rate}.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _runs(res: dict, method: str, selected: str) -> np.ndarray:
  m = res["methods"][method]
  block = m["test"] if selected == "val" else m["test_selected"]
  return 100 * np.asarray(block["accuracy"]["per_run"], np.float64)


def _cell(x: np.ndarray) -> str:
  return f"{x.mean():.2f} ± {x.std(ddof=1):.2f}"


def _diff(x: np.ndarray, y: np.ndarray) -> str:
  d = x - y
  se = d.std(ddof=1) / np.sqrt(len(d))
  mark = " *" if abs(d.mean()) > 2 * se else ""
  return f"{d.mean():+.2f} ± {se:.2f}{mark}"


def table(directory: str) -> str:
  lines = []
  for rate in (90, 50):
    base = _load(directory, "default", rate)
    for selected, title in (("val", "selection on validation (ours)"),
                            ("test", "authors' protocol: best test score")):
      lines += [f"### MCAR {rate} %, {title}", "",
                "| switch | GIL | GIL-H | zero | GIL - GIL-H | GIL - zero | "
                "GIL-H - zero | GIL steps |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |"]
      for switch in SWITCHES:
        res = _load(directory, switch, rate)
        if res is None:
          continue
        runs = {}
        for method in METHODS:
          src = res if method in res["methods"] else base
          if src is None or method not in src["methods"]:
            break
          runs[method] = _runs(src, method, selected)
        if len(runs) < len(METHODS):
          continue
        steps = (res["methods"]["gil"]["best_step"] if selected == "val"
                 else res["methods"]["gil"]["test_selected"]["step"])
        lines.append(
            f"| {LABELS[switch]} | {_cell(runs['gil'])} | {_cell(runs['gil_h'])} | "
            f"{_cell(runs['zero'])} | {_diff(runs['gil'], runs['gil_h'])} | "
            f"{_diff(runs['gil'], runs['zero'])} | "
            f"{_diff(runs['gil_h'], runs['zero'])} | {int(np.median(steps))} |")
      p = PAPER[rate]
      lines += [f"| paper (test selection, 784-500-500) | {p['gil']:.2f} | "
                f"{p['gil_h']:.2f} | {p['zero']:.2f} | "
                f"{p['gil'] - p['gil_h']:+.2f} | {p['gil'] - p['zero']:+.2f} | "
                f"{p['gil_h'] - p['zero']:+.2f} | |", ""]
  lines += ["Cells: test accuracy (%), mean ± std over 5 mask seeds; differences: "
            "paired over mask seeds, mean ± standard error, `*` where |mean| > 2 SE. "
            "GIL steps: median selected step."]
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--dir", default=os.path.dirname(os.path.abspath(__file__)))
  parser.add_argument("--out", default=None)
  args = parser.parse_args()
  text = table(args.dir)
  if args.out:
    with open(args.out, "w") as f:
      f.write(text + "\n")
  print(text)


if __name__ == "__main__":
  main()
