r"""Figure: the policy diagnostics of a run over training (gil_jax/sources/credit.py).

  python -m launch.diagnostics_figure --workdir=runs/importance_digits_zero \
      --methods=gil,gil_heldout --out=docs/results/figures/policy_diagnostics.png \
      --summary_json=docs/results/policy_diagnostics_digits_zero.json

Reads ``WORKDIR/history_METHOD.csv`` (written by ``launch.train`` with
``--config.train.diagnostics=True``) and draws, per diagnostic, its mean over the
runs of each method (band: +/- one standard deviation) against the training step:
the critic's agreement with the exact effect of the importance on the reward (sign
agreement, cosine, magnitude ratio), the actor's saturation, spread across samples
and correlation with the mask, the actor's share of behaviour actions, and the size
of the true effect relative to the reward's spread across samples.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence

import numpy as np
from absl import flags

from launch import user_errors

PANELS = (
    ("diag_critic_sign_agreement", "critic dQ/da: sign agreement\nwith the exact effect",
     "linear"),
    ("diag_critic_cosine", "critic dQ/da: cosine\nwith the exact effect", "linear"),
    ("diag_critic_magnitude_ratio", "|dQ/da| / |exact effect|", "log"),
    ("diag_own_effect_to_reward_spread",
     "|effect of a on own-loss reward|\n/ std of reward over samples", "log"),
    ("diag_action_saturation", "actor: share of actions\n< 0.05 or > 0.95", "linear"),
    ("diag_action_spread", "actor: std over samples\nper feature", "linear"),
    ("diag_action_corr_with_mask", "actor: corr(a, m)", "linear"),
    ("actor_share", "share of behaviour actions\nfrom the actor", "linear"),
)


def read_history(path: str) -> dict[str, np.ndarray]:
  """``{column: [runs, evals]}`` from a history CSV (rows grouped by run)."""
  with open(path) as f:
    rows = list(csv.DictReader(f))
  if not rows:
    raise ValueError(f"{path} holds no rows")
  if "step" not in rows[0]:
    raise ValueError(f"{path} has no 'step' column: not a history CSV of "
                     "launch.train")
  run_cols = [c for c in rows[0] if c in ("seed", "mask_seed", "split_seed", "fold")]
  runs: dict[tuple, list[dict]] = {}
  for row in rows:
    runs.setdefault(tuple(row[c] for c in run_cols), []).append(row)
  lengths = {len(v) for v in runs.values()}
  if len(lengths) != 1:
    raise ValueError(f"{path}: runs have different numbers of evaluations")
  _check_numbers(path, rows, [k for k in rows[0] if k not in run_cols])
  return {k: np.array([[float(r[k]) for r in rs] for rs in runs.values()])
          for k in rows[0] if k not in run_cols}


def _check_numbers(path: str, rows: list[dict], columns: list[str]) -> None:
  """Raises ValueError naming the file, line and column of a cell that is not a
  number."""
  for line, row in enumerate(rows, start=2):        # line 1 is the header
    for k in columns:
      try:
        float(row[k])
      except (TypeError, ValueError):
        raise ValueError(f"{path}, line {line}: column {k!r} holds {row[k]!r}, "
                         "not a number") from None


def plot(histories: dict[str, dict[str, np.ndarray]], out: str,
         title: str = "") -> str:
  """Writes the figure of ``{method: history}`` to ``out``; returns ``out``."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  panels = [p for p in PANELS if any(p[0] in h for h in histories.values())]
  if not panels:
    raise ValueError("no diagnostics in these histories: train with "
                     "--config.train.diagnostics=True")
  cols = 4
  rows = -(-len(panels) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
  for ax, (key, label, scale) in zip(axes.flat, panels):
    for method, hist in histories.items():
      if key not in hist:
        continue
      steps = hist["step"][0]
      mean, std = hist[key].mean(0), hist[key].std(0)
      ax.plot(steps, mean, label=method)
      ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    ax.set_yscale(scale)
    ax.set_title(label, fontsize=9)
    ax.set_xlabel("step", fontsize=8)
  for ax in list(axes.flat)[len(panels):]:
    ax.axis("off")
  axes.flat[0].legend(fontsize=8)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  fig.savefig(out, dpi=110)
  plt.close(fig)
  return out


def read_histories(workdir: str, methods: Sequence[str]) -> dict:
  """``{method: history}``; ``METHOD@DIR`` reads that method from ``DIR`` instead
  of ``workdir`` (methods launched into workdirs of their own)."""
  histories = {}
  for entry in methods:
    method, _, where = entry.partition("@")
    path = os.path.join(where or workdir, f"history_{method}.csv")
    if not os.path.exists(path):
      raise FileNotFoundError(f"no history for method {method!r}: {path} is missing")
    histories[method] = read_history(path)
  return histories


def figure(workdir: str, methods: Sequence[str], out: str, title: str = "") -> str:
  return plot(read_histories(workdir, methods), out, title)


def summary(histories: dict[str, dict[str, np.ndarray]]) -> dict:
  """Per method and column: the mean over runs and evaluations, and over runs at
  the last evaluation (the numbers a results page quotes)."""
  return {m: {k: {"mean_over_training": float(v.mean()),
                  "last_evaluation": float(v[:, -1].mean())}
              for k, v in h.items() if k != "step"}
          for m, h in histories.items()}


def main(argv):
  del argv
  f = flags.FLAGS
  histories = read_histories(f.workdir, f.methods)
  print(plot(histories, f.out, f.title))
  if f.summary_json:
    with open(f.summary_json, "w") as fh:
      json.dump(summary(histories), fh, indent=2)
    print(f.summary_json)


if __name__ == "__main__":
  flags.DEFINE_string("workdir", None, "A launch.train workdir with history CSVs.")
  flags.DEFINE_list("methods", ["gil"], "Methods to draw; METHOD@DIR reads "
                    "DIR/history_METHOD.csv instead of the workdir's.")
  flags.DEFINE_string("out", None, "PNG file to write.")
  flags.DEFINE_string("title", "", "Figure title.")
  flags.DEFINE_string("summary_json", None, "Also write each diagnostic's mean over "
                      "training and at the last evaluation here.")
  flags.mark_flags_as_required(["workdir", "out"])
  user_errors.run(main)
