r"""Runs an experiment grid as a job array: one task per (grid setting, method).

  python -m launch.sweep --config=launch/configs/mnist_mcar.py --workdir=DIR \
      --executor=slurm --partition=gpu --gpus_per_task=1 --cpus_per_task=8 \
      --mem_gb=32 --timeout_min=240 --max_parallel=24

Each task runs the launcher's own code (``launch.experiment.run``) for one method of
one setting, with all of its seeds (and mask seeds) vmapped inside the task as in
``launch.train``, and writes ``DIR/<setting>/tasks/<method>/results.json``; its
histories, TensorBoard events, saved models and checkpoints go to ``DIR/<setting>``,
exactly where ``launch.train`` puts them.  When every task has finished, the tasks'
files of each setting are merged into ``DIR/<setting>/results.json``
(``launch.results.merge_results``) and the grid's report into ``DIR/report.md``
and ``DIR/report.csv`` (``launch.report``): the same numbers as the same grid run by
``launch.train`` in one process.

``--executor=slurm`` submits one SLURM job array (``--max_parallel`` tasks at a
time) through submitit and waits for it; ``--executor=local`` runs the same tasks as
local subprocesses (at most ``--max_parallel`` at once).  Resources come from the
flags; a config may set defaults in a ``config.sweep`` ConfigDict with the flags'
names (e.g. ``c.sweep = ml_collections.ConfigDict({"partition": "gpu",
"gpus_per_task": 1})``); flags given on the command line win.

Failures: the status of every task goes to ``DIR/sweep/tasks.json`` and the failed
ones are listed with their log files.  Running the same command again submits only
the tasks without a finished results file for the current config (finished tasks are
skipped; ``--tasks=missing_rate_0.9/gil,...`` picks tasks by name), and merges once
all are done.  ``--nowait`` submits and returns; ``--merge_only`` later merges (or
lists what is missing).  Submitit's logs and pickles are under ``DIR/sweep/logs``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import time
from collections.abc import Sequence
from typing import Any

import ml_collections
import submitit
from absl import app, flags, logging
from ml_collections import config_flags

from launch import grid
from launch import results as results_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Resource flags and their defaults (overridable by ``config.sweep``).
RESOURCES = {"partition": None, "account": None, "qos": None, "gpus_per_task": 0,
             "cpus_per_task": 4, "mem_gb": 16.0, "timeout_min": 240,
             "max_parallel": 32}
# SLURM states of a job that may still finish (not worth submitting again).
ACTIVE = ("PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING",
          "SUSPENDED", "RESIZING")

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Task:
  """One method of one grid setting."""
  name: str                            # "<setting folder>/<method>", e.g. "missing_rate_0.5/gil"
  method: str
  setting_dir: str                     # where launch.train writes this setting
  config: ml_collections.ConfigDict    # the setting's config, this method only

  @property
  def results_path(self) -> str:
    return os.path.join(self.setting_dir, "tasks", self.method, "results.json")


class TaskRunner(submitit.helpers.Checkpointable):
  """What a job runs: ``launch.experiment.run`` on one task.

  A submitit ``Checkpointable``: a job that SLURM stops at its time limit or
  preempts is requeued, and resumes from its checkpoints when the config writes
  them (``config.checkpoint_every_call``).
  """

  def __call__(self, task: Task, resume: bool = False) -> str:
    # The task's own folder first: a folder that cannot be written fails the task
    # before any data is loaded.
    os.makedirs(os.path.dirname(task.results_path), exist_ok=True)
    from launch import experiment  # local: the job's process loads JAX only here
    logging.set_verbosity(logging.INFO)
    experiment.run(task.config, task.setting_dir, resume=resume,
                   results_path=task.results_path)
    return task.results_path

  def checkpoint(self, task: Task, resume: bool = False):
    return submitit.helpers.DelayedSubmission(
        self, task, resume=resume or bool(task.config.checkpoint_every_call))


def make_tasks(config: ml_collections.ConfigDict, workdir: str) -> list[Task]:
  """One :class:`Task` per grid setting and method, in the config's order."""
  from launch import datasets, validation   # local: they load the data modules
  tasks = []
  settings = grid.grid_settings(config, workdir)
  for cfg, _ in settings:         # every value checked before anything is submitted
    validation.check_config(cfg, datasets.DATASETS)
  for cfg, setting_dir in settings:
    for method in cfg.methods:
      # Resources (config.sweep) are no part of a run: changing them later must
      # not make finished tasks look stale.
      fields = {k: v for k, v in cfg.to_dict().items() if k != "sweep"}
      task_cfg = ml_collections.ConfigDict(dict(fields, methods=(method,)))
      name = os.path.join(os.path.relpath(setting_dir, workdir), method)
      tasks.append(Task(os.path.normpath(name), method, setting_dir, task_cfg))
  return tasks


def _jsonable(obj) -> Any:
  """As ``results.json`` stores it (tuples become lists)."""
  return json.loads(json.dumps(obj, default=list))


def is_finished(task: Task) -> bool:
  """Whether the task's results file exists and was written for its config."""
  try:
    with open(task.results_path) as f:
      results = json.load(f)
  except (OSError, ValueError):
    return False
  return (task.method in results.get("methods", {})
          and results.get("config") == _jsonable(task.config.to_dict()))


def resources(config: ml_collections.ConfigDict, flag_values) -> dict:
  """Resource settings: defaults, then ``config.sweep``, then flags given."""
  out = dict(RESOURCES)
  from_config = config.get("sweep")
  if from_config is not None:
    unknown = sorted(set(from_config) - set(RESOURCES))
    if unknown:
      raise ValueError(f"config.sweep has unknown field(s) {unknown}; known: "
                       f"{sorted(RESOURCES)}")
    out.update(from_config.to_dict())
  for name in RESOURCES:
    if flag_values[name].present:
      out[name] = flag_values[name].value
  for name in ("gpus_per_task", "cpus_per_task", "timeout_min", "max_parallel"):
    if out[name] is None or int(out[name]) < (0 if name == "gpus_per_task" else 1):
      raise ValueError(f"{name} must be an integer >= "
                       f"{0 if name == 'gpus_per_task' else 1}, got {out[name]!r}")
  return out


def make_executor(kind: str, folder: str, res: dict, setup: Sequence[str] = (),
                  name: str = "sweep", compilation_cache: str | None = None):
  """A submitit executor: ``slurm`` (sbatch job arrays) or ``local``.

  ``setup``: shell lines a job runs first (e.g. ``module load cuda``); then the
  job's Python finds this repository, and with ``compilation_cache`` tasks share
  JAX's persistent compilation cache there (the tasks of one method compile the
  same programs).
  """
  lines = list(setup) + [
      f"export PYTHONPATH={shlex.quote(ROOT)}${{PYTHONPATH:+:$PYTHONPATH}}"]
  if compilation_cache:
    lines.append("export JAX_COMPILATION_CACHE_DIR="
                 + shlex.quote(os.path.abspath(compilation_cache)))
  executor = submitit.AutoExecutor(folder=folder, cluster=kind)
  params = {"name": name, "timeout_min": int(res["timeout_min"]), "nodes": 1,
            "tasks_per_node": 1, "cpus_per_task": int(res["cpus_per_task"]),
            "mem_gb": float(res["mem_gb"])}
  if int(res["gpus_per_task"]) > 0:     # a GPU request on a site without GRES fails
    params["gpus_per_node"] = int(res["gpus_per_task"])
  if kind == "slurm":
    params.update(slurm_array_parallelism=int(res["max_parallel"]),
                  slurm_setup=lines)
    for key in ("partition", "account", "qos"):
      if res[key]:
        params[f"slurm_{key}"] = res[key]
  else:
    params.update(local_setup=lines)
  executor.update_parameters(**params)
  return executor


def _job_error(job) -> str | None:
  """The last line of a finished job's error, or None if it succeeded."""
  try:
    err = job.exception()
  except Exception as e:  # noqa: BLE001 (a job that left no result failed too)
    err = e
  if err is None:
    return None
  # submitit's message: a header, the job's traceback, the log paths; keep the
  # traceback's last line ("FileExistsError: ...").
  lines = [line for line in str(err).splitlines() if line.strip()
           and not line.startswith((" ", "-", "You can check"))]
  return lines[-1][:300] if lines else type(err).__name__


def submit(tasks: list[Task], executor, kind: str, max_parallel: int,
           resume: bool, wait: bool, on_submit=None) -> dict[str, dict]:
  """Runs ``tasks``; returns ``{name: {"state", "job_id", "stdout", "stderr",
  ("error")}}``.  SLURM gets one array (throttled by SLURM); locally at most
  ``max_parallel`` run at once."""
  runner = TaskRunner()
  jobs: dict[str, Any] = {}

  def record(task, job):
    jobs[task.name] = job
    if on_submit is not None:
      on_submit(task, job)

  if kind == "slurm":
    with executor.batch():
      pending = [(t, executor.submit(runner, t, resume)) for t in tasks]
    for task, job in pending:
      record(task, job)
  else:
    queue = list(tasks)
    running: list = []
    while queue or running:
      while queue and len(running) < max_parallel:
        task = queue.pop(0)
        job = executor.submit(runner, task, resume)
        record(task, job)
        running.append(job)
      time.sleep(0.5)
      running = [j for j in running if not j.done()]
  status = {}
  for task in tasks:
    job = jobs[task.name]
    entry = {"job_id": str(job.job_id), "stdout": str(job.paths.stdout),
             "stderr": str(job.paths.stderr)}
    if wait or kind == "local":   # local tasks are this process's children: done
      error = _job_error(job)
      if error is None and not is_finished(task):
        error = f"no results file {task.results_path}"
      entry["state"] = "done" if error is None else "failed"
      if error is not None:
        entry["error"] = error
    else:
      entry["state"] = "submitted"
    status[task.name] = entry
  return status


def merge(tasks: list[Task], workdir: str) -> list[str]:
  """Each setting's tasks -> ``SETTING/results.json``; the grid's report.

  Returns the merged files, in grid order."""
  from launch import report  # local: only merging writes a report
  by_setting: dict[str, list[Task]] = {}
  for task in tasks:
    by_setting.setdefault(task.setting_dir, []).append(task)
  paths = []
  for setting_dir, group in by_setting.items():
    parts = []
    for task in group:   # the config's method order, as launch.train writes it
      with open(task.results_path) as f:
        parts.append((task.results_path, json.load(f)))
    merged = results_lib.merge_results(parts)
    path = os.path.join(setting_dir, "results.json")
    results_lib.write_json(merged, path)
    paths.append(path)
  report.write_report(paths, workdir)
  return paths


def _status_path(workdir: str) -> str:
  return os.path.join(workdir, "sweep", "tasks.json")


def read_status(workdir: str) -> dict[str, dict]:
  try:
    with open(_status_path(workdir)) as f:
      return {t["name"]: t for t in json.load(f)["tasks"]}
  except (OSError, ValueError, KeyError):
    return {}


def write_status(workdir: str, tasks: list[Task], status: dict[str, dict]) -> None:
  rows = [{**status.get(t.name, {}), "name": t.name, "method": t.method,
           "setting_dir": t.setting_dir, "results": t.results_path}
          for t in tasks]
  os.makedirs(os.path.dirname(_status_path(workdir)), exist_ok=True)
  results_lib.write_json({"tasks": rows}, _status_path(workdir))


def still_queued(kind: str, previous: dict) -> bool:
  """Whether an earlier invocation's SLURM job for a task is pending or running.

  Asks ``squeue`` (which needs no accounting database, unlike ``sacct``)."""
  if kind != "slurm" or previous.get("state") != "submitted":
    return False
  try:
    out = subprocess.run(["squeue", "--noheader", "--format=%T",
                          f"--jobs={previous['job_id']}"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
  except (OSError, subprocess.SubprocessError):    # unknown to SLURM: finished
    return False
  return any(state.strip() in ACTIVE for state in out.splitlines())


def define_flags() -> None:
  """The command-line flags (defined only when run as a script)."""
  config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "Directory of the grid (as launch.train's).")
  flags.DEFINE_enum("executor", "slurm", ["slurm", "local"], "slurm: one job array "
                    "through sbatch; local: the same tasks as local subprocesses.")
  flags.DEFINE_string("partition", None, "SLURM partition.")
  flags.DEFINE_string("account", None, "SLURM account.")
  flags.DEFINE_string("qos", None, "SLURM quality of service.")
  flags.DEFINE_integer("gpus_per_task", RESOURCES["gpus_per_task"], "GPUs per task "
                       "(a task's runs are sharded over them).")
  flags.DEFINE_integer("cpus_per_task", RESOURCES["cpus_per_task"], "CPUs per task.")
  flags.DEFINE_float("mem_gb", RESOURCES["mem_gb"], "Memory per task (GB).")
  flags.DEFINE_integer("timeout_min", RESOURCES["timeout_min"], "Time limit per "
                       "task (minutes); a task stopped by it is requeued.")
  flags.DEFINE_integer("max_parallel", RESOURCES["max_parallel"], "Tasks running "
                       "at once (SLURM array throttle %N).")
  flags.DEFINE_list("slurm_setup", [], "Shell lines a SLURM job runs first, e.g. "
                    "'module load cuda,source .venv/bin/activate'.")
  flags.DEFINE_list("tasks", None, "Only these tasks (names as listed, e.g. "
                    "missing_rate_0.9/gil).")
  flags.DEFINE_bool("resume", False, "Tasks continue from their checkpoints "
                    "(needs --config.checkpoint_every_call=True).")
  flags.DEFINE_bool("wait", True, "Wait for the tasks, then merge.")
  flags.DEFINE_bool("merge_only", False, "Submit nothing: merge finished tasks "
                    "(or list the missing ones).")
  flags.DEFINE_string("compilation_cache", None, "A folder every task can reach: "
                      "tasks share JAX's persistent compilation cache there.")


def run_sweep(config: ml_collections.ConfigDict, workdir: str, *,
              executor: str = "slurm", res: dict | None = None,
              setup: Sequence[str] = (), only: Sequence[str] | None = None,
              resume: bool = False, wait: bool = True, merge_only: bool = False,
              compilation_cache: str | None = None) -> int:
  """Submits the grid's unfinished tasks, waits, merges; returns the exit status.

  See the module docstring; ``res`` are the resources (:func:`resources`) and
  ``only`` restricts the tasks submitted to these names.
  """
  workdir = os.path.abspath(workdir)
  res = dict(RESOURCES) if res is None else res
  tasks = make_tasks(config, workdir)
  chosen = tasks
  if only:
    names = {t.name for t in tasks}
    unknown = sorted(set(only) - names)
    if unknown:
      raise ValueError(f"unknown task(s) {unknown}; this grid's tasks: "
                       f"{sorted(names)}")
    chosen = [t for t in tasks if t.name in only]
  folder = os.path.join(workdir, "sweep", "logs")
  previous = read_status(workdir)
  status = {t.name: previous[t.name] for t in tasks if t.name in previous}
  for t in tasks:
    if is_finished(t):
      status[t.name] = dict(status.get(t.name, {}), state="done")
  unfinished = [t for t in chosen if not is_finished(t)]
  # Jobs of an earlier ``--nowait`` call that SLURM still holds are not submitted
  # twice.
  queued = {t.name for t in unfinished
            if still_queued(executor, previous.get(t.name, {}))}
  todo = [t for t in unfinished if t.name not in queued]
  print(f"{len(tasks)} tasks; {len(chosen) - len(unfinished)} of {len(chosen)} "
        f"chosen finished, {len(queued)} still queued, "
        f"{0 if merge_only else len(todo)} to submit ({executor})")
  if todo and not merge_only:
    try:
      runner = make_executor(executor, folder, res, setup,
                             name=os.path.basename(workdir) or "sweep",
                             compilation_cache=compilation_cache)
    except RuntimeError as e:     # submitit: no srun / sbatch on this machine
      raise ValueError(f"{e} (--executor=local runs the tasks here)") from e

    def on_submit(task, job):
      status[task.name] = {"state": "submitted", "job_id": str(job.job_id)}
      write_status(workdir, tasks, status)
      print(f"submitted {task.name}: job {job.job_id}", flush=True)

    status.update(submit(todo, runner, executor, int(res["max_parallel"]), resume,
                         wait, on_submit))
    write_status(workdir, tasks, status)
  failed = [t for t in tasks if status.get(t.name, {}).get("state") == "failed"]
  missing = [t for t in tasks if not is_finished(t)]
  for t in failed:
    entry = status[t.name]
    print(f"FAILED {t.name} (job {entry['job_id']}): {entry.get('error', '')}\n"
          f"  log: {entry['stderr']}")
  if failed:
    names = ",".join(t.name for t in failed)
    print(f"{len(failed)} task(s) failed: {names}\nRun the same command again to "
          f"resubmit only the unfinished tasks, or add --tasks={names}.")
  if missing:
    waiting = [t.name for t in missing
               if status.get(t.name, {}).get("state") == "submitted"]
    if waiting:
      print(f"{len(waiting)} task(s) submitted, not finished yet: "
            f"{','.join(waiting)}; merge with --merge_only once they are.")
    others = [t.name for t in missing if t not in failed and t.name not in waiting]
    if others:
      print(f"{len(others)} task(s) not run yet: {','.join(others)}")
    return 1 if failed or others or (wait and waiting) else 0
  for path in merge(tasks, workdir):
    print(f"wrote {path}")
  print(f"wrote {os.path.join(workdir, 'report.md')} and report.csv")
  return 0


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Too many command-line arguments: {argv[1:]}")
  logging.set_verbosity(logging.INFO)
  try:
    return run_sweep(FLAGS.config, FLAGS.workdir, executor=FLAGS.executor,
                     res=resources(FLAGS.config, FLAGS), setup=FLAGS.slurm_setup,
                     only=FLAGS.tasks, resume=FLAGS.resume, wait=FLAGS.wait,
                     merge_only=FLAGS.merge_only,
                     compilation_cache=FLAGS.compilation_cache)
  except ValueError as e:
    raise app.UsageError(str(e)) from e


if __name__ == "__main__":
  # Run this module's functions as ``launch.sweep``, not ``__main__``: the jobs then
  # unpickle its classes by reference to this file instead of by value.
  from launch import sweep  # noqa: PLW0406 (deliberate, see above)
  sweep.define_flags()
  flags.mark_flags_as_required(["config", "workdir"])
  from launch import user_errors
  user_errors.run(sweep.main)
