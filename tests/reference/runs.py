"""Reference runs: the numbers a change of the code's structure must not move.

Four runs, as a user makes them (the launcher in a fresh process, XLA's optimised
compiler, one CPU device):

* ``digits``: the default demo (``launch/configs/digits_mcar.py``, 3 seeds);
* ``physionet2012``: one split, one seed, 100 steps, ``gil``, ``gil_meta`` and
  ``mean_mask`` on the LSTM;
* ``mnist90``: scaled MNIST at 90 % MCAR (``mnist_importance.py:small``), one mask
  seed, ``gil`` and ``gil_l2rw`` with the credit diagnostics, 300 steps;
* ``estimator``: one ``GILClassifier`` fit on digits with NaN.

For each, :func:`summary` keeps what identifies the result bit for bit: every
per-run metric and best step of ``results.json``, the per-evaluation histories, and
a SHA-256 of every saved parameter array.  ``python -m tests.reference.runs`` records
them in ``tests/reference/<name>.json`` together with the machine they were measured
on; ``tests/test_reference_runs.py`` reruns them and compares.  XLA's CPU code
differs between processors, so the comparison is bit for bit only on the machine
kind that recorded them.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))

LAUNCHER_RUNS = {
    "digits": ["--config=launch/configs/digits_mcar.py"],
    "physionet2012": [
        "--config=launch/configs/physionet2012.py",
        "--config.methods=('gil','gil_meta','mean_mask')", "--config.seeds=(0,)",
        "--config.train.num_steps=100", "--config.train.eval_every=50"],
    "mnist90": [
        "--config=launch/configs/mnist_importance.py:small",
        "--config.grid.settings=(0.9,)", "--config.methods=('gil','gil_l2rw')",
        "--config.mask_seeds=(0,)", "--config.train.num_steps=300",
        "--config.train.eval_every=50"],
}

ESTIMATOR_SCRIPT = r"""
import hashlib, json, sys
import numpy as np
from sklearn.datasets import load_digits
from gil_jax.estimator import GILClassifier

x, y = load_digits(return_X_y=True)
rng = np.random.default_rng(0)
x = np.where(rng.random(x.shape) < 0.4, np.nan, x)
clf = GILClassifier(method="gil", hidden=(64, 64), num_steps=300, eval_every=50,
                    random_state=3).fit(x[:1200], y[:1200])
probs = np.asarray(clf.predict_proba(x[1200:]), np.float32)
out = {"best_step": int(clf.best_step_),
       "validation": {k: float(v) for k, v in clf.validation_score_.items()},
       "history": {k: np.asarray(v).tolist() for k, v in clf.history_.items()},
       "probs_sha256": hashlib.sha256(probs.tobytes()).hexdigest()}
json.dump(out, sys.stdout)
"""


def machine() -> dict:
  """What XLA's CPU code depends on: the processor, its vector units, versions."""
  import jax
  import jaxlib
  model, flags = "", set()
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name") and not model:
          model = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags:
          flags = set(line.split(":", 1)[1].split())
  except OSError:
    pass
  vector = sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "sse4")))
  return {"cpu": model or platform.processor(), "vector_units": vector,
          "machine": platform.machine(), "jax": jax.__version__,
          "jaxlib": jaxlib.__version__}


def _env() -> dict:
  env = dict(os.environ)
  # The users' setting: the optimised compiler, one CPU device.
  for key in ("JAX_DISABLE_MOST_OPTIMIZATIONS", "XLA_FLAGS", "JAX_NUM_CPU_DEVICES"):
    env.pop(key, None)
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  return env


def _param_digests(models_dir: str) -> dict:
  """SHA-256 of each saved tree's arrays (``params``, ``actor``), leaves by path."""
  import orbax.checkpoint as ocp
  import jax
  out = {}
  for method_dir in sorted(glob.glob(os.path.join(models_dir, "*"))):
    with ocp.StandardCheckpointer() as ckptr:
      tree = ckptr.restore(os.path.abspath(method_dir))
    digests = {}
    for part in sorted(tree):
      leaves = jax.tree_util.tree_flatten_with_path(tree[part])[0]
      h = hashlib.sha256()
      for path, leaf in sorted(leaves, key=lambda kv: jax.tree_util.keystr(kv[0])):
        h.update(jax.tree_util.keystr(path).encode())
        h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
      digests[part] = h.hexdigest()
    out[os.path.basename(method_dir)] = digests
  return out


def _histories(workdir: str) -> dict:
  out = {}
  for path in sorted(glob.glob(os.path.join(workdir, "history_*.csv"))):
    with open(path) as f:
      rows = list(csv.reader(f))
    out[os.path.basename(path)] = rows
  return out


def summary(workdir: str) -> dict:
  """Everything of a finished launcher run that identifies its numbers."""
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  methods = {}
  for name, res in results["methods"].items():
    methods[name] = {
        "best_step": res["best_step"],
        **{f"{split}_{metric}": v["per_run"]
           for split in ("val", "test") for metric, v in res[split].items()}}
  return {"runs": results["runs"], "methods": methods,
          "histories": _histories(workdir),
          "params_sha256": _param_digests(os.path.join(workdir, "models"))}


def run_launcher(name: str, workdir: str) -> dict:
  """Runs reference ``name`` through ``launch.train`` into ``workdir``."""
  argv = [sys.executable, "-m", "launch.train", f"--workdir={workdir}",
          *LAUNCHER_RUNS[name]]
  subprocess.run(argv, cwd=ROOT, env=_env(), check=True, capture_output=True,
                 text=True)
  grid = sorted(glob.glob(os.path.join(workdir, "*", "results.json")))
  return summary(os.path.dirname(grid[0]) if grid else workdir)


def run_estimator() -> dict:
  out = subprocess.run([sys.executable, "-c", ESTIMATOR_SCRIPT], cwd=ROOT,
                       env=_env(), check=True, capture_output=True, text=True)
  return json.loads(out.stdout)


def run(name: str, workdir: str) -> dict:
  return run_estimator() if name == "estimator" else run_launcher(name, workdir)


NAMES = tuple(LAUNCHER_RUNS) + ("estimator",)


def path_of(name: str) -> str:
  return os.path.join(HERE, f"{name}.json")


def main(names) -> None:
  for name in names or NAMES:
    with tempfile.TemporaryDirectory() as tmp:
      record = {"machine": machine(), "result": run(name, os.path.join(tmp, name))}
    with open(path_of(name), "w") as f:
      json.dump(record, f, indent=1, sort_keys=True)
    print(f"recorded {path_of(name)}")


if __name__ == "__main__":
  main(sys.argv[1:])
