r"""MIWAE and EM against a published imputation error: breast cancer, 50 % MCAR.

  python -m launch.imputers_external --out=docs/results/miwae_external.json

The protocol of the MIWAE authors' breast-cancer notebook (pamattei/miwae,
``MIWAE_demo_breast.ipynb``), which is scikit-learn's bundled copy of the UCI
Breast Cancer Wisconsin (Diagnostic) table (569 rows x 30 features): every column
standardised over all rows; 50 % of the cells removed uniformly at random
(``floor(n p / 2)`` cells drawn without replacement by
``numpy.random.RandomState(mask_seed).choice``, the notebook's draw for its seed
1234); each imputer fitted on the whole incomplete table and scored on it
(transductive, as there); the error is the mean squared error over the removed
cells on the standardised scale.  MIWAE: the authors' settings (``hidden=(128,
128)``, latent 10, K = 20, batch 64, Adam 1e-3, 600 epochs of 9 batches = 5,400
steps, ``L = 1000`` importance samples), one fit per model seed.  Also mean
imputation, EM and MICE (``IterativeImputer`` with Bayesian ridge, the notebook's
"iterative ridge").  Writes the per-seed errors, their mean and std, the command
and the wall time of each method.
"""

from __future__ import annotations

import json
import sys
import time

import jax
import numpy as np
from absl import flags
from sklearn.datasets import load_breast_cancer

from gil_jax.baselines import imputers
from gil_jax.data import Split
from launch import user_errors

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("out", None, "JSON file to write.")
  flags.DEFINE_list("mask_seeds", ["1234"], "RandomState seeds of the MCAR masks.")
  flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "MIWAE model seeds.")
  flags.DEFINE_integer("num_steps", 5400, "MIWAE Adam steps.")
  flags.DEFINE_integer("num_samples", 1000, "MIWAE importance samples per row.")
  flags.mark_flags_as_required(["out"])


def masked_table(mask_seed: int, rate: float = 0.5
                 ) -> tuple[np.ndarray, Split]:
  """The standardised complete table and its MCAR-masked split."""
  data = load_breast_cancer(return_X_y=True)[0]
  full = (data - data.mean(0)) / data.std(0)
  n, p = full.shape
  drop = np.random.RandomState(mask_seed).choice(n * p, int(np.floor(n * p * rate)),
                                                 replace=False)
  m = np.ones(n * p, np.float32)
  m[drop] = 0.0
  m = m.reshape(n, p)
  split = Split(x=np.where(m > 0, full, 0.0).astype(np.float32), m=m,
                y=np.zeros(n, np.int32))
  return full, split


def _mean_filled(split: Split) -> np.ndarray:
  mean = (split.x * split.m).sum(0) / split.m.sum(0)
  return np.where(split.m > 0, split.x, mean)


def run(mask_seeds: list[int], seeds: list[int], num_steps: int,
        num_samples: int) -> dict:
  """``{method: {"mse": {...}, "seconds": ...}}`` over masks (and MIWAE seeds)."""
  methods = {
      "mean": [(None, lambda s, _: _mean_filled(s))],
      "em": [(None, lambda s, _: imputers.apply_imputer(
          imputers.FITTERS["em"](s, max_iter=500, tol=1e-8), s).x)],
      "mice": [(None, lambda s, _: imputers.apply_imputer(imputers.FITTERS["mice"](
          s, max_iter=10, n_nearest_features=None, max_fit_rows=None), s).x)],
      "miwae": [(seed, lambda s, seed: imputers.apply_imputer(imputers.FITTERS[
          "miwae"](s, seed=seed, num_steps=num_steps, num_samples=num_samples),
          s).x) for seed in seeds],
  }
  out = {}
  for name, fits in methods.items():
    mses, start = [], time.perf_counter()
    for mask_seed in mask_seeds:
      full, split = masked_table(mask_seed)
      for seed, fit in fits:
        imputed = fit(split, seed)
        mses.append({"mask_seed": mask_seed, "seed": seed,
                     "mse": imputers.imputation_mse(imputed, full, split.m)})
    values = np.array([r["mse"] for r in mses])
    out[name] = {"mse": {"mean": float(values.mean()), "std": float(values.std()),
                         "per_run": mses},
                 "seconds": round(time.perf_counter() - start, 1)}
    print(f"{name}: {values.mean():.4f} +/- {values.std():.4f}", flush=True)
  return out


def main(argv) -> None:
  del argv
  start = time.perf_counter()
  result = run([int(s) for s in FLAGS.mask_seeds], [int(s) for s in FLAGS.seeds],
               FLAGS.num_steps, FLAGS.num_samples)
  record = {"command": "python -m launch.imputers_external " + " ".join(sys.argv[1:]),
            "data": "sklearn.datasets.load_breast_cancer (UCI Breast Cancer "
                    "Wisconsin, Diagnostic), 569 x 30, standardised",
            "missingness": "50 % MCAR over all cells",
            "metric": "MSE over the removed cells, standardised scale",
            "device": str(jax.devices()[0]),
            "wall_seconds": round(time.perf_counter() - start, 1),
            "methods": result}
  with open(FLAGS.out, "w") as f:
    json.dump(record, f, indent=1)
  print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
  define_flags()
  user_errors.run(main)
