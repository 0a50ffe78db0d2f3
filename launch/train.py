r"""Trains the methods of an experiment config over its seeds and tabulates them.

  python -m launch.train --config=launch/configs/digits_mcar.py --workdir=/tmp/gil

Writes ``WORKDIR/results.json`` (schema in ``launch/experiment.py``), per-eval
histories (``history_METHOD.csv`` and TensorBoard events under ``tensorboard/``) and prints a
method x metric table (test metrics of the best-on-validation parameters, mean +/- std
over seeds).  Override config fields on the command line, e.g.
``--config.seeds='(0,)' --config.train.num_steps=200``.

With ``config.grid`` set (e.g. ``field="data.missing_rate"``, ``settings=(0.5, 0.7,
0.9)``) one command runs every setting, each in ``WORKDIR/missing_rate_<value>``,
and writes the combined report (``launch.report``) to ``WORKDIR/report.md`` / ``.csv``.
"""

import os

import jax
from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from launch import experiment

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for results.json.")
flags.DEFINE_bool("resume", False, "Continue from the checkpoints in WORKDIR "
                  "(needs --config.checkpoint_every_call=True).")
flags.DEFINE_string("profile_dir", None, "Write a jax.profiler trace of one host "
                    "call per method here (view with TensorBoard or Perfetto).")
flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() first "
                  "(multi-host runs; runs are then sharded over all hosts' devices).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Too many command-line arguments: {argv[1:]}")
  logging.set_verbosity(logging.INFO)
  if FLAGS.distributed:
    jax.distributed.initialize()
  config = FLAGS.config
  settings = experiment.grid_settings(config, FLAGS.workdir)
  for cfg, workdir in settings:
    results = experiment.run(cfg, workdir, resume=FLAGS.resume,
                             profile_dir=FLAGS.profile_dir)
    runs = results["runs"]
    print(f"\n{results['dataset']} ({workdir}): test metrics (%) of the "
          f"best-on-validation parameters, mean +/- std over {len(runs)} runs "
          f"({', '.join(sorted(runs[0]))})\n")
    print(experiment.format_table(results))
    print(f"\nwrote {workdir}/results.json")
  if len(settings) > 1:
    from launch import report  # local: only grids write the combined report
    report.write_report([os.path.join(w, "results.json") for _, w in settings],
                        FLAGS.workdir)
    print(f"wrote {FLAGS.workdir}/report.md and report.csv")


if __name__ == "__main__":
  app.run(main)
