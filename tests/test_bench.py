"""launch.bench's LSTM rows: the JSON keys, and XLA FLOPs that count every time step."""

import json
import os
import subprocess
import sys

import jax
import pytest
from absl import flags

from launch import bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bench(args):
  # No timeout: on a loaded machine a correct run may take many times its CPU time.
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "launch.bench", *args], cwd=ROOT,
                        env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module", autouse=True)
def _parsed_flags():
  if not flags.FLAGS.is_parsed():
    flags.FLAGS(["bench", "--workdir=/tmp/unused"])


def _lstm_flops(method, hidden, max_len, features=5):
  cfg = bench._config(method, 1, 64, model="lstm", hidden=(hidden,))
  data = lambda rows, seed: bench._synthetic_sequences(
      rows, max_len, features, bench._LSTM_CLASSES, jax.random.key(seed))
  cost = bench.xla_cost(cfg, data(64, 0), data(4, 1))
  assert "error" not in cost, cost
  return cost["flops_per_step"]


def test_lstm_flops_count_each_time_steps_recurrence():
  batch, hidden = 128, 64
  flops = {t: _lstm_flops("zero", hidden, t) for t in (2, 5, 8)}
  # Forward h @ U, backward dh @ U^T and h^T @ dz: three [B,H]x[H,4H] matmuls a time
  # step (the gates' elementwise work adds ~15 % at H = 64, less for wider H).
  recurrent = 3 * 2 * batch * hidden * 4 * hidden
  per_step = (flops[8] - flops[2]) / 6
  assert recurrent <= per_step <= 1.25 * recurrent, (per_step, recurrent)
  assert flops[5] - flops[2] == pytest.approx(3 * per_step, rel=0.01)  # affine in T


def test_bench_lstm_rows_alone(tmp_path):
  proc = _bench([f"--workdir={tmp_path}", "--models=lstm", "--lstm_sizes=8",
                 "--lstm_steps=2", "--lstm_repeats=1", "--lstm_rows=64",
                 "--lstm_max_len=6", "--lstm_features=5", "--replay_capacity=64",
                 "--policy_hidden=8,8", "--nocredit_rows"])
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(tmp_path / "bench.json") as f:
    out = json.load(f)
  for key in ("plain_ms", "importance_ms", "gil_full_ms", "val_pass_ms",
              "importance_over_plain", "gil_over_plain"):
    assert out[f"lstm8_{key}"] > 0, key
  assert "plain_ms" not in out                       # no MLP rows
  xla = out["xla"]["lstm8"]
  assert xla["gil"]["flops_per_step"] > xla["gil_h"]["flops_per_step"] > 0
  assert xla["gil_h"]["flops_per_step"] == pytest.approx(
      xla["zero"]["flops_per_step"], rel=0.05)
  assert out["shapes"]["lstm"]["max_len"] == 6 and out["peak_rss_mb"] > 0


def test_bench_rejects_mismatched_lstm_steps(tmp_path):
  proc = _bench([f"--workdir={tmp_path}", "--models=mlp,lstm", "--lstm_sizes=8,16",
                 "--lstm_steps=1,2,3"])
  assert proc.returncode != 0 and "--lstm_steps needs" in proc.stderr
