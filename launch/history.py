"""A method's training as it goes (the progress log) and after (per-eval history)."""

from __future__ import annotations

import os
from typing import Callable

import numpy as np
from absl import logging


def progress_logger(method: str, n_runs: int) -> Callable[[dict], None]:
  """A ``progress`` callback of :func:`gil_jax.training.fit.fit_many`: one log line per
  host call (step, loss, validation and best scores as means over the runs, rate,
  time left)."""
  def log(p):
    done = p["step"] / p["num_steps"]
    # Steps trained in this process (a resumed run restored the others).
    rate = (p["step"] - p.get("start_step", 0)) / max(p["seconds"], 1e-9)
    eta = (p["num_steps"] - p["step"]) / max(rate, 1e-9)
    logging.info("[%s x%d runs] step %d/%d (%.0f%%)  loss %.4f  val %.4f  best %.4f "
                 "(means over runs)  %s steps/s  ETA %.0fs", method, n_runs,
                 p["step"], p["num_steps"], 100 * done, np.mean(p["loss"]),
                 np.mean(p["val_score"]), np.mean(p["best_score"]),
                 significant(rate), eta)
  return log


def significant(value: float, digits: int = 2) -> str:
  """``value`` to ``digits`` significant digits, without an exponent (0.0031,
  0.55, 12, 3400): a slow run's rate is never printed as 0."""
  if value == 0 or not np.isfinite(value):
    return f"{value:g}"
  decimals = digits - 1 - int(np.floor(np.log10(abs(value))))
  return f"{round(value, decimals):.{max(decimals, 0)}f}"


def write_history(workdir: str, method: str, runs: list[dict], fits) -> None:
  """Per-eval history as CSV and TensorBoard event files (one run per folder)."""
  from tensorboardX import SummaryWriter  # local: only the launcher writes events
  keys = sorted(fits[0].history)
  cols = list(runs[0])
  with open(os.path.join(workdir, f"history_{method}.csv"), "w") as f:
    f.write(",".join(cols + keys) + "\n")
    for run, fit in zip(runs, fits):
      for row in zip(*(fit.history[k] for k in keys)):
        f.write(",".join([str(run[c]) for c in cols]
                         + [f"{float(v):.6g}" for v in row]) + "\n")
  for run, fit in zip(runs, fits):
    name = "_".join(f"{c}_{run[c]}" for c in cols)
    with SummaryWriter(os.path.join(workdir, "tensorboard", method, name)) as writer:
      for i, step in enumerate(fit.history["step"]):
        for k in keys:
          if k != "step":
            writer.add_scalar(k, float(fit.history[k][i]), int(step))
