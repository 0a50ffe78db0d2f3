"""launch.sweep: a grid as one task per (setting, method) through submitit's local
executor; failed tasks are listed and resubmitted alone; the merged report equals the
same grid run in one process."""

import csv
import json
import os
import signal
import subprocess
import sys

import pytest

from launch import sweep
from launch.configs import digits_mcar

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 400     # the whole first sweep, generous for a loaded 2-core machine
# 2 settings x 2 methods.  ``zero`` and ``mean`` compile to the same programs, so
# with a shared compilation cache only the first task compiles.
OVERRIDES = {"seeds": (0, 1), "methods": ("zero", "mean"), "train.num_steps": 40,
             "train.eval_every": 20, "train.hidden": (16,),
             "grid.field": "data.missing_rate", "grid.settings": (0.3, 0.6)}
BROKEN = "missing_rate_0.6/mean"


def _config():
  cfg = digits_mcar.get_config()
  cfg.update_from_flattened_dict(OVERRIDES)
  return cfg


def _flag(field, value):
  return f"--config.{field}={value!r}" if isinstance(value, tuple) else (
      f"--config.{field}={value}")


def _task_results(workdir, name):
  setting, method = name.split("/")
  return os.path.join(workdir, setting, "tasks", method, "results.json")


def _report_rows(workdir):
  """The report's numbers, without wall times and file names."""
  with open(os.path.join(workdir, "report.csv")) as f:
    return [{k: v for k, v in row.items() if k != "file"}
            for row in csv.DictReader(f) if row["metric"] != "wall_seconds"]


def _tables(workdir):
  """report.md up to its wall-seconds table (the rest is timing and paths)."""
  with open(os.path.join(workdir, "report.md")) as f:
    return f.read().split("wall seconds")[0]


def test_task_names_and_resources_from_config_and_flags(tmp_path):
  cfg = _config()
  tasks = sweep.make_tasks(cfg, str(tmp_path))
  assert [t.name for t in tasks] == ["missing_rate_0.3/zero", "missing_rate_0.3/mean",
                                     "missing_rate_0.6/zero", "missing_rate_0.6/mean"]
  assert tasks[3].config.methods == ("mean",)
  assert tasks[3].config.data.missing_rate == 0.6 and not tasks[3].config.grid.field
  assert tasks[3].results_path == str(tmp_path / "missing_rate_0.6" / "tasks" / "mean"
                                      / "results.json")

  class Flag:
    def __init__(self, value, present):
      self.value, self.present = value, present
  flag_values = {k: Flag(v, False) for k, v in sweep.RESOURCES.items()}
  flag_values["mem_gb"] = Flag(64.0, True)
  with cfg.unlocked():
    cfg.sweep = {"partition": "gpu", "gpus_per_task": 2, "mem_gb": 8.0}
  assert "sweep" not in sweep.make_tasks(cfg, str(tmp_path))[0].config
  res = sweep.resources(cfg, flag_values)
  assert (res["partition"], res["gpus_per_task"], res["mem_gb"]) == ("gpu", 2, 64.0)
  with cfg.unlocked():
    cfg.sweep.gpu = 1
  with pytest.raises(ValueError, match="unknown field"):
    sweep.resources(cfg, flag_values)
  with pytest.raises(ValueError, match="unknown method"):
    with cfg.unlocked():
      cfg.methods = ("zero", "nope")
    sweep.make_tasks(cfg, str(tmp_path))


def _run(module, args, env, timeout=TIMEOUT_S):
  """``python -m module args`` -> (exit status, output); killed with all its
  children (submitit's task processes) if it outlives ``timeout``."""
  proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)   # one process group with its tasks
  try:
    out, _ = proc.communicate(timeout=timeout)
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)
      proc.communicate()
  return proc.returncode, out


def test_sweep_resubmits_failed_task_alone_and_reproduces_one_process_grid(
    tmp_path, monkeypatch, capsys):
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  workdir = tmp_path / "sweep"
  # The tasks and the one-process run share JAX's persistent compilation cache: the
  # same programs, compiled once (the numbers are those of any compilation).
  cache = str(tmp_path / "jax_cache")
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", cache)
  args = ["--config=launch/configs/digits_mcar.py",
          *[_flag(k, v) for k, v in OVERRIDES.items()]]
  # One task cannot write its folder: it fails, the other three finish.
  (workdir / "missing_rate_0.6" / "tasks").mkdir(parents=True)
  (workdir / "missing_rate_0.6" / "tasks" / "mean").write_text("in the way")
  status, out = _run("launch.sweep", args + [
      f"--workdir={workdir}", "--executor=local", "--max_parallel=1",
      "--timeout_min=10", f"--compilation_cache={cache}"], dict(os.environ))
  assert status == 1, out[-3000:]
  assert f"FAILED {BROKEN}" in out and "1 task(s) failed" in out, out[-3000:]
  assert "FileExistsError" in out, out[-3000:]
  with open(workdir / "sweep" / "tasks.json") as f:
    states = {t["name"]: t["state"] for t in json.load(f)["tasks"]}
  assert states == {"missing_rate_0.3/zero": "done", "missing_rate_0.3/mean": "done",
                    "missing_rate_0.6/zero": "done", BROKEN: "failed"}
  assert not (workdir / "report.md").exists()      # nothing merged while one failed

  # Fixed and run again: only the failed task is submitted, then all are merged.
  (workdir / "missing_rate_0.6" / "tasks" / "mean").unlink()
  finished = {t: os.path.getmtime(_task_results(workdir, t))
              for t in states if t != BROKEN}
  capsys.readouterr()
  status = sweep.run_sweep(_config(), str(workdir), executor="local",
                           res=dict(sweep.RESOURCES, timeout_min=10),
                           compilation_cache=cache)
  out = capsys.readouterr().out
  assert status == 0, out
  assert "1 to submit" in out and out.count("submitted ") == 1, out
  assert f"submitted {BROKEN}" in out
  for t, mtime in finished.items():        # the finished tasks did not run again
    assert os.path.getmtime(_task_results(workdir, t)) == mtime
  with open(workdir / "sweep" / "tasks.json") as f:
    assert {t["state"] for t in json.load(f)["tasks"]} == {"done"}

  # The same grid in one process (launch.train): the same numbers and report.
  ref = tmp_path / "one_process"
  status, out = _run("launch.train", args + [f"--workdir={ref}"], dict(os.environ))
  assert status == 0, out[-3000:]
  for value in (0.3, 0.6):
    name = f"missing_rate_{value}"
    with open(ref / name / "results.json") as f:
      single = json.load(f)
    with open(workdir / name / "results.json") as f:
      merged = json.load(f)
    assert list(merged["methods"]) == ["zero", "mean"]
    assert merged["runs"] == single["runs"]
    assert merged["config"]["data"]["missing_rate"] == value
    for method in ("zero", "mean"):
      for key in ("test", "val", "best_step"):
        assert merged["methods"][method][key] == single["methods"][method][key], (
            name, method, key)
    assert [m["file"] for m in merged["merged_from"]] == [
        _task_results(workdir, f"{name}/{m}") for m in ("zero", "mean")]
  assert _report_rows(workdir) == _report_rows(ref)
  assert _tables(workdir) == _tables(ref)
  assert "MCAR 30%" in _tables(workdir) and "| mean |" in _tables(workdir)


def _sweep_cli(tmp_path, *args):
  return subprocess.run(
      [sys.executable, "-m", "launch.sweep", "--config=launch/configs/digits_mcar.py",
       f"--workdir={tmp_path / 'grid'}", "--executor=local", *args],
      cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("override, says", [
    ("--config.train.learnin_rate=0.1", "names no config field"),
    ("--config.train.learning_rate=-0.1", "config.train.learning_rate"),
    ("--config.methods=('gil','nope')", "unknown method 'nope'"),
])
def test_a_bad_config_stops_the_sweep_before_any_task_with_one_line(
    tmp_path, override, says):
  proc = _sweep_cli(tmp_path, override)
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert says in proc.stderr and "Traceback" not in proc.stderr
  assert not (tmp_path / "grid" / "sweep").exists()     # nothing was submitted
