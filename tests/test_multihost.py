"""Multi-host for real: two local processes joined by ``jax.distributed`` over loopback.

Each process simulates two CPU devices, so the runs of a method are sharded over four
devices on two "hosts" and gathered with ``process_allgather``.  The numbers must
equal a single-process run of the same runs, and only process 0 may write files.
"""

import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np

from launch import experiment
from launch.configs import digits_mcar

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Generous for a loaded 2-core machine (each process needs ~10 s of CPU); the
# processes are killed when it runs out, so CI never hangs on them.
TIMEOUT_S = 300
# Three runs (one seed x three mask seeds, so the data are sharded too) over four
# devices: padding across hosts is exercised as well.
OVERRIDES = {"seeds": (0,), "mask_seeds": (3, 4, 5), "methods": ("gil_h",),
             "train.num_steps": 40, "train.eval_every": 20, "train.hidden": (16,),
             "steps_per_call": 20}


def _config():
  cfg = digits_mcar.get_config()
  cfg.update_from_flattened_dict(OVERRIDES)
  return cfg


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _kill(procs) -> None:
  for p in procs:
    if p.poll() is None:
      os.killpg(p.pid, signal.SIGKILL)
      p.wait()


def _history(workdir: str) -> list[dict]:
  with open(os.path.join(workdir, "history_gil_h.csv")) as f:
    return list(csv.DictReader(f))


def test_two_processes_match_one_process_and_only_process_0_writes(tmp_path):
  port = _free_port()
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=(os.environ.get("XLA_FLAGS", "")
                        + " --xla_force_host_platform_device_count=2").strip(),
             # The coordinator listens on loopback only (JAX's default is all
             # interfaces).
             JAX_COORDINATOR_BIND_ADDRESS=f"127.0.0.1:{port}")
  args = [f"--config.{k}={v!r}" if isinstance(v, tuple) else f"--config.{k}={v}"
          for k, v in OVERRIDES.items()]
  procs = []
  with contextlib.ExitStack() as stack:
    stack.callback(_kill, procs)       # however the block is left, none survives it
    for i in range(2):
      log = stack.enter_context(open(tmp_path / f"process_{i}.log", "w"))
      procs.append(subprocess.Popen(
          [sys.executable, "-m", "launch.train",
           "--config=launch/configs/digits_mcar.py", *args,
           f"--workdir={tmp_path / f'p{i}'}", "--distributed",
           f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
           f"--process_id={i}"],
          cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
          start_new_session=True))        # own process group: killed as a whole
    deadline = time.monotonic() + TIMEOUT_S
    # Stop at the first failure: the other process would wait for it until JAX's
    # own timeouts.
    while (any(p.poll() is None for p in procs)
           and not any(p.poll() for p in procs)
           and time.monotonic() < deadline):
      time.sleep(0.5)
  out = [(tmp_path / f"process_{i}.log").read_text() for i in range(2)]
  assert [p.returncode for p in procs] == [0, 0], "\n".join(
      f"--- process {i} (exit {p.returncode}):\n{out[i][-3000:]}"
      for i, p in enumerate(procs))
  assert "sharding runs over 4 devices (2 processes)" in out[0]

  # Process 0 wrote everything; process 1 wrote no file at all.
  written = [sorted(os.path.relpath(os.path.join(d, f), tmp_path / f"p{i}")
                    for d, _, fs in os.walk(tmp_path / f"p{i}") for f in fs)
             for i in range(2)]
  assert "results.json" in written[0] and "history_gil_h.csv" in written[0]
  assert written[1] == [], written[1]
  assert "wrote" in out[0] and "wrote" not in out[1]

  # The same runs in this one process (four local devices, see conftest.py).
  single_dir = str(tmp_path / "single")
  single = experiment.run(_config(), single_dir)
  with open(tmp_path / "p0" / "results.json") as f:
    multi = json.load(f)
  assert multi["runs"] == single["runs"] and len(multi["runs"]) == 3
  a, b = multi["methods"]["gil_h"], single["methods"]["gil_h"]
  assert a["best_step"] == b["best_step"]
  for split in ("test", "val"):
    for metric in b[split]:
      np.testing.assert_allclose(a[split][metric]["per_run"],
                                 b[split][metric]["per_run"], rtol=1e-6)
  # Per-eval losses of every run, gathered from both hosts.
  rows_multi, rows_single = _history(str(tmp_path / "p0")), _history(single_dir)
  assert len(rows_multi) == len(rows_single) == 3 * 2
  for key in ("mask_seed", "step"):
    assert [r[key] for r in rows_multi] == [r[key] for r in rows_single]
  np.testing.assert_allclose([float(r["loss"]) for r in rows_multi],
                             [float(r["loss"]) for r in rows_single], rtol=1e-5)
  assert len({r["loss"] for r in rows_multi}) > 1     # the runs differ
