"""Collects the PhysioNet 2012 external check of BRITS and GP-VAE into one JSON.

    # BRITS (108 units per direction, the authors' size), then GP-VAE (fit
    # shortened to 500 steps) + the 128-unit LSTM; protocol (a): split seed 0,
    # seeds 0, 1, 2; each timed by the shell
    python -m launch.train --config=launch/configs/physionet2012.py --workdir=runs/ext/brits \
        --config.methods='("brits",)' --config.train.hidden='(108,)'
    python -m launch.train --config=launch/configs/physionet2012.py --workdir=runs/ext/gpvae \
        --config.methods='("gpvae",)' --config.imputer_options.gpvae.num_steps=500
    python docs/results/sequence_baselines_external.py runs/ext brits=SECONDS gpvae=SECONDS
"""

import json
import os
import sys

COMMANDS = {
    "brits": "python -m launch.train --config=launch/configs/physionet2012.py "
             "--workdir=runs/ext/brits --config.methods='(\"brits\",)' "
             "--config.train.hidden='(108,)'",
    "gpvae": "python -m launch.train --config=launch/configs/physionet2012.py "
             "--workdir=runs/ext/gpvae --config.methods='(\"gpvae\",)' "
             "--config.imputer_options.gpvae.num_steps=500",
}
PUBLISHED = {
    "brits": {"auroc": 0.850, "auroc_std": 0.002,
              "source": "Cao et al. 2018 (BRITS), PhysioNet 2012 in-hospital "
                        "mortality, classification AUROC of BRITS"},
}


def main(root: str, times: dict) -> dict:
  out = {"dataset": "physionet2012 set-a, protocol (a): split seed 0, seeds 0, 1, 2",
         "machine": "2 shared CPU cores, nice 5, other jobs running", "methods": {}}
  for method, command in COMMANDS.items():
    with open(os.path.join(root, method, "results.json")) as f:
      res = json.load(f)
    entry = res["methods"][method]
    out["methods"][method] = {
        "command": command, "wall_seconds_shell": times.get(method),
        "wall_seconds": entry["wall_seconds"],
        "transform_seconds": entry["transform_seconds"],
        "test": entry["test"], "val": entry["val"], "best_step": entry["best_step"],
        "train": {k: res["config"]["train"][k] for k in
                  ("hidden", "num_steps", "batch_size", "learning_rate")},
        "imputer_options": res["config"].get("imputer_options", {}).get(method),
        "published": PUBLISHED.get(method)}
  return out


if __name__ == "__main__":
  times = dict(a.split("=") for a in sys.argv[2:])
  times = {k: float(v) for k, v in times.items()}
  json.dump(main(sys.argv[1], times), sys.stdout, indent=1)
  print()
