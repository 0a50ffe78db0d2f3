r"""Speed and memory of GIL's training step against a plain step, in one process.

  python -m launch.bench --workdir=/tmp/gil_bench

On MNIST-shaped inputs (batch 128, 784 -> 500 -> 500 -> 10, 50 % MCAR), each inside
the same scanned on-device training loop (``Trainer.run``):

  (a) plain_ms:      a plain Adam step of the predictor (method ``zero``);
  (b) importance_ms: the importance-weighted predictor step alone (``gil_h``);
  (c) gil_full_ms:   the full GIL step: behaviour policy, importance-weighted predictor
                     update, reward, next state, replay write and sample, critic and
                     actor updates, Polyak targets (``gil``).

Writes ``WORKDIR/bench.json`` with ``plain_ms``, ``importance_ms``, ``gil_full_ms``,
``importance_over_plain``, ``gil_full_over_plain``, ``peak_rss_mb`` and ``device``.
Targets on a 2-core CPU: importance_over_plain <= 1.15, gil_full_over_plain <= 8.
"""

import dataclasses
import json
import os
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app
from absl import flags

from gil_jax.data import Split
from gil_jax.train import TrainConfig, make_trainer

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for bench.json.", required=True)
flags.DEFINE_integer("steps", 200, "Steps per timed host call.")
flags.DEFINE_integer("repeats", 5, "Timed host calls per variant (median reported).")
flags.DEFINE_integer("rows", 10_000, "Rows of the synthetic training set.")
flags.DEFINE_integer("features", 784, "Input width d.")
flags.DEFINE_integer("replay_capacity", 10_000, "GIL replay buffer size.")


def _synthetic(rows, d, classes, key):
  kx, km, ky = jax.random.split(key, 3)
  m = (jax.random.uniform(km, (rows, d)) > 0.5).astype(jnp.float32)
  x = jax.random.uniform(kx, (rows, d)) * m
  return Split(x=x, m=m, y=jax.random.randint(ky, (rows,), 0, classes))


def time_method(method: str, train: Split, val: Split, steps: int, repeats: int,
                capacity: int) -> float:
  """Median milliseconds per training step of ``method`` in the scanned loop."""
  cfg = TrainConfig(method=method, hidden=(500, 500), batch_size=128,
                    num_steps=steps, eval_every=steps, replay_capacity=capacity)
  trainer = make_trainer(cfg, train.x.shape[1], 10)
  state = trainer.init(jax.random.key(0), train)
  state, _ = trainer.run(state, train, val, num_evals=1)   # compile + warm up
  jax.block_until_ready(state)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    state, hist = trainer.run(state, train, val, num_evals=1)
    jax.block_until_ready((state, hist))
    times.append(time.perf_counter() - start)
  return 1e3 * float(np.median(times)) / steps


def main(argv):
  del argv
  os.makedirs(FLAGS.workdir, exist_ok=True)
  train = _synthetic(FLAGS.rows, FLAGS.features, 10, jax.random.key(1))
  val = _synthetic(256, FLAGS.features, 10, jax.random.key(2))
  ms = {}
  for name, method in (("plain_ms", "zero"), ("importance_ms", "gil_h"),
                       ("gil_full_ms", "gil")):
    ms[name] = time_method(method, train, val, FLAGS.steps, FLAGS.repeats,
                           FLAGS.replay_capacity)
    print(f"{name:>14}: {ms[name]:8.3f} ms/step")
  # Second plain measurement: the spread between the two shows the timing noise.
  ms["plain_again_ms"] = time_method("zero", train, val, FLAGS.steps, FLAGS.repeats,
                                     FLAGS.replay_capacity)
  plain = min(ms["plain_ms"], ms["plain_again_ms"])
  out = dict(ms)
  out.update(
      importance_over_plain=ms["importance_ms"] / plain,
      gil_full_over_plain=ms["gil_full_ms"] / plain,
      peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      device=f"{jax.devices()[0].device_kind} x{jax.device_count()} "
             f"({jax.default_backend()}), {os.cpu_count()} host cores",
      shapes=dict(batch=128, layers=[FLAGS.features, 500, 500, 10],
                  replay_capacity=FLAGS.replay_capacity, steps_per_call=FLAGS.steps),
      jax_version=jax.__version__)
  print(f"importance/plain: {out['importance_over_plain']:.3f} (target <= 1.15)")
  print(f"gil_full/plain:   {out['gil_full_over_plain']:.3f} (target <= 8)")
  print(f"peak RSS: {out['peak_rss_mb']:.0f} MB   device: {out['device']}")
  with open(os.path.join(FLAGS.workdir, "bench.json"), "w") as f:
    json.dump(out, f, indent=2)
  print(f"wrote {FLAGS.workdir}/bench.json")


if __name__ == "__main__":
  app.run(main)
