"""A method defined in this file runs through ``launch.train``.

This module is both a plug-in (imported by ``--plugin=tests.test_launch_plugin``, it
registers the importance source ``fill_weight``, ``a = m + w (1 - m)``, with its own
config) and the launcher config file (``get_config``: digits with the observed mean
as placeholder, so the importance on filled-in entries matters).  With ``w = 0.5`` the
source is the built-in control ``gil_const`` (c = 0.5), so a launch must give exactly
its numbers (the option reached the step and nothing else differs), and not GIL-H's
(``w = 0``).
"""

import csv
import dataclasses
import json
import os
import subprocess
import sys

import ml_collections

from gil_jax.sources import ImportanceSource, no_observation, register_source
from launch.configs import digits_mcar

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class FillWeightConfig:
  fill_weight: float = 0.5


def fill_weight_factory(config, predictor) -> ImportanceSource:
  w = config.source_config.fill_weight

  def propose(state, keys, ctx):
    a = ctx.batch.m + w * (1.0 - ctx.batch.m)
    return a, state, {"filled_share": (a * (1.0 - ctx.batch.m)).mean()}

  return ImportanceSource(init=lambda key, ctx: None, propose=propose,
                          observe=no_observation)


register_source("fill_weight", fill_weight_factory, config=FillWeightConfig)


def get_config() -> ml_collections.ConfigDict:
  c = digits_mcar.get_config()
  with c.ignore_type():
    c.placeholder = "mean"
  c.methods = ("fill_weight", "gil_const", "gil_h")
  c.seeds = (0, 1)
  c.train.hidden = (32,)
  c.train.num_steps = 60
  c.train.eval_every = 20
  c.train.fill_weight = 0.5         # the plug-in's option, a config.train field
  return c


def _launch(workdir, *overrides):
  proc = subprocess.run(
      [sys.executable, "-m", "launch.train", "--plugin=tests.test_launch_plugin",
       f"--config={os.path.abspath(__file__)}", f"--workdir={workdir}", *overrides],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(os.path.join(workdir, "results.json")) as f:
    return json.load(f)


def _same_numbers(results, a, b):
  ra, rb = results["methods"][a], results["methods"][b]
  assert ra["best_step"] == rb["best_step"]
  for split in ("val", "test"):
    for metric in ra[split]:
      assert ra[split][metric]["per_run"] == rb[split][metric]["per_run"], (
          split, metric)


def test_plugin_source_runs_through_the_launcher_with_its_own_option(tmp_path):
  results = _launch(tmp_path / "half")
  _same_numbers(results, "fill_weight", "gil_const")
  with open(tmp_path / "half" / "history_fill_weight.csv") as f:
    rows = list(csv.DictReader(f))
  assert rows and all(float(r["filled_share"]) > 0 for r in rows)

  # ... and it matters: GIL-H (w = 0) gives other numbers on the same runs.
  assert (results["methods"]["fill_weight"]["val"]["accuracy"]["per_run"]
          != results["methods"]["gil_h"]["val"]["accuracy"]["per_run"])


def test_unknown_plugin_module_is_one_clear_error(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "launch.train", "--plugin=no_such_module_here",
       "--config=launch/configs/digits_mcar.py", f"--workdir={tmp_path}"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2
  assert "no module named 'no_such_module_here'" in proc.stderr
  assert "Traceback" not in proc.stderr
