r"""Trains the methods of an experiment config over its seeds and tabulates them.

  python -m launch.train --config=launch/configs/digits_mcar.py --workdir=/tmp/gil

Writes ``WORKDIR/results.json`` (schema in ``launch/results.py``), per-eval
histories (``history_METHOD.csv`` and TensorBoard events under ``tensorboard/``) and prints a
method x metric table (test metrics of the best-on-validation parameters, mean +/- std
over seeds).  Override config fields on the command line, e.g.
``--config.seeds='(0,)' --config.train.num_steps=200``.

With ``config.grid`` set (e.g. ``field="data.missing_rate"``, ``settings=(0.5, 0.7,
0.9)``) one command runs every setting, each in ``WORKDIR/missing_rate_<value>``,
and writes the combined report (``launch.report``) to ``WORKDIR/report.md`` / ``.csv``.
"""

import glob
import importlib
import os

import jax
from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from launch import datasets
from launch import experiment
from launch import grid
from launch import quiet_logs
from launch import results as results_lib
from launch import resume as resume_lib
from launch import user_errors
from launch import validation

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for results.json.")
flags.DEFINE_bool("resume", False, "Continue from the checkpoints in WORKDIR "
                  "(needs --config.checkpoint_every_call=True and the config of "
                  "the run that wrote them).")
flags.DEFINE_bool("overwrite", False, "Delete the checkpoints of an earlier run in "
                  "WORKDIR and start afresh (without it they are an error).")
flags.DEFINE_string("profile_dir", None, "Write a jax.profiler trace of one host "
                    "call per method here (view with TensorBoard or Perfetto).")
flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() first "
                  "(multi-host runs; runs are then sharded over all hosts' devices).")
# Unset, JAX detects them on SLURM, Open MPI, Kubernetes and TPU pods; set all three
# by hand elsewhere (e.g. several processes on one machine).
flags.DEFINE_string("coordinator_address", None, "With --distributed: host:port of "
                    "process 0's coordinator.")
flags.DEFINE_integer("num_processes", None, "With --distributed: number of processes.")
flags.DEFINE_integer("process_id", None, "With --distributed: this process's index.")
flags.DEFINE_multi_string("plugin", [], "A Python module to import before anything "
                          "else, e.g. one that registers an importance source with "
                          "gil_jax.register_source (its name is then a method; its "
                          "options are config.train fields your config file defines). "
                          "Repeat for several.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Too many command-line arguments: {argv[1:]}")
  logging.set_verbosity(logging.INFO)
  quiet_logs.quiet_libraries()
  if FLAGS.distributed:
    jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                               num_processes=FLAGS.num_processes,
                               process_id=FLAGS.process_id)
  for module in FLAGS.plugin:
    _import_plugin(module)
  config = FLAGS.config
  settings = grid.grid_settings(config, FLAGS.workdir)
  _preflight(settings)
  for cfg, workdir in settings:
    results = experiment.run(cfg, workdir, resume=FLAGS.resume,
                             profile_dir=FLAGS.profile_dir)
    if jax.process_index() != 0:   # multi-host: process 0 writes and reports
      continue
    runs = results["runs"]
    print(f"\n{results['dataset']} ({workdir}): test metrics (%) of the "
          f"best-on-validation parameters, mean +/- std over {len(runs)} runs "
          f"({', '.join(sorted(runs[0]))})\n")
    print(results_lib.format_table(results))
    print(f"\nwrote {workdir}/results.json")
    for line in _other_outputs(workdir):
      print(line)
  if len(settings) > 1 and jax.process_index() == 0:
    from launch import report  # local: only grids write the combined report
    report.write_report([os.path.join(w, "results.json") for _, w in settings],
                        FLAGS.workdir)
    print(f"wrote {FLAGS.workdir}/report.md and report.csv")


def _import_plugin(module: str) -> None:
  """Imports a user's module (its registrations run on import)."""
  try:
    importlib.import_module(module)
  except ModuleNotFoundError as e:
    if e.name and module.startswith(e.name):
      raise ValueError(f"--plugin={module}: no module named {e.name!r} (give a "
                       "module importable from here, e.g. my_sources for "
                       "./my_sources.py)") from None
    raise


def _preflight(settings) -> None:
  """Every check that needs no data, for every grid setting, before any trains:
  config values, workdirs, and the checkpoints against --resume / --overwrite."""
  validation.check_workdir(FLAGS.workdir)
  for cfg, workdir in settings:      # all settings first: --overwrite deletes
    validation.check_config(cfg, datasets.DATASETS)
    validation.check_workdir(workdir)
  saved = {}
  for cfg, workdir in settings:
    saved[workdir] = resume_lib.check_checkpoints(
        cfg, workdir, resume=FLAGS.resume, overwrite=FLAGS.overwrite)
  if FLAGS.resume and not any(saved.values()):
    raise ValueError(f"--resume: nothing to resume, no checkpoints under "
                     f"{FLAGS.workdir} (they are written with "
                     "--config.checkpoint_every_call=True); run without --resume")


def _other_outputs(workdir: str) -> list[str]:
  """Lines naming what the run wrote besides results.json."""
  lines = []
  histories = sorted(glob.glob(os.path.join(workdir, "history_*.csv")))
  if histories:
    lines.append(f"per-eval histories: {', '.join(histories)}")
  if os.path.isdir(os.path.join(workdir, "tensorboard")):
    lines.append(f"TensorBoard: tensorboard --logdir {workdir}/tensorboard")
  models = os.path.join(workdir, "models")
  if os.path.isdir(models):
    lines.append(f"best-on-validation models: {models}/"
                 f"{{{','.join(sorted(os.listdir(models)))}}} (launch.evaluate, "
                 "launch.figures)")
  fitted = os.path.join(workdir, "fitted")
  if os.path.isdir(fitted):
    lines.append(f"fitted imputers / boosting models: {fitted}/"
                 f"{{{','.join(sorted(os.listdir(fitted)))}}} (launch.evaluate)")
  if os.path.isdir(resume_lib.checkpoint_dir(workdir)):
    lines.append(f"checkpoints: {resume_lib.checkpoint_dir(workdir)}")
  return lines


if __name__ == "__main__":
  user_errors.run(main)
