r"""Speed and memory of GIL's training step against a plain step, in one process.

  python -m launch.bench --workdir=/tmp/gil_bench

On MNIST-shaped inputs (batch 128, 784 -> 500 -> 500 -> 10, 50 % MCAR), each inside
the same scanned on-device training loop (``Trainer.run``):

  (a) plain_ms:      a plain Adam step of the predictor (method ``zero``);
  (b) importance_ms: the importance-weighted predictor step alone (``gil_h``);
  (c) gil_full_ms:   the full GIL step: behaviour policy, importance-weighted predictor
                     update, reward, next state, replay write and sample, critic and
                     actor updates, Polyak targets (``gil``).

Then, for many runs at once (issue: vmap / sharding / checkpoints):

  vmap8_over_1:   time of 8 GIL runs (seeds) in one vmapped program over 1 run in the
                  same program shape (``_gpu`` suffix on a GPU); target <= 8 on CPU,
                  <= 2 on a GPU;
  vmap8_matches_loop, sharded_matches_single, resume_matches_uninterrupted: whether
                  8 vmapped seeds, runs sharded over ``--cpu_devices`` simulated CPU
                  devices (or the real devices), and a run stopped and resumed from
                  its orbax checkpoint reproduce the one-at-a-time numbers (small
                  problem, float tolerance), with the largest deviation seen;
  xla: XLA's cost analysis of the compiled steps (FLOPs and bytes per step) and the
       achieved FLOP/s.

Writes ``WORKDIR/bench.json`` with ``plain_ms``, ``importance_ms``, ``gil_full_ms``,
``importance_over_plain``, ``gil_full_over_plain``, ``peak_rss_mb``, ``device`` and
the keys above.  Targets on a 2-core CPU: importance_over_plain <= 1.15,
gil_full_over_plain <= 8.
"""

import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app
from absl import flags

from gil_jax.data import RawTabular, Split, prepare_tabular
from gil_jax.train import (TrainConfig, default_hparams, fit, fit_many, make_trainer,
                           runs_mesh)

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for bench.json.", required=True)
flags.DEFINE_integer("steps", 200, "Steps per timed host call.")
flags.DEFINE_integer("repeats", 7, "Timed host calls per variant, interleaved "
                     "(median reported).")
flags.DEFINE_integer("rows", 10_000, "Rows of the synthetic training set.")
flags.DEFINE_integer("features", 784, "Input width d.")
flags.DEFINE_integer("replay_capacity", 10_000, "GIL replay buffer size.")
flags.DEFINE_integer("vmap_runs", 8, "Runs in the vmapped timing.")
flags.DEFINE_integer("vmap_steps", 50, "Steps per timed call in the vmapped timing.")
flags.DEFINE_integer("check_runs", 8, "Runs (seeds) in the equivalence checks.")
flags.DEFINE_integer("cpu_devices", 4, "Simulated CPU devices for the sharding "
                     "check when the backend is the CPU (run in a child process).")
flags.DEFINE_bool("only_checks", False, "Internal: run only the equivalence checks.")
flags.DEFINE_string("checks_out", None, "Internal: where --only_checks writes.")


def _synthetic(rows, d, classes, key):
  kx, km, ky = jax.random.split(key, 3)
  m = (jax.random.uniform(km, (rows, d)) > 0.5).astype(jnp.float32)
  x = jax.random.uniform(kx, (rows, d)) * m
  return Split(x=x, m=m, y=jax.random.randint(ky, (rows,), 0, classes))


def _config(method, steps, capacity):
  return TrainConfig(method=method, hidden=(500, 500), batch_size=128,
                     num_steps=steps, eval_every=steps, replay_capacity=capacity)


class _Timed:
  """One compiled training program, timed call by call (``steps`` steps a call)."""

  def __init__(self, method: str, train: Split, val: Split, steps: int,
               capacity: int, n_runs: int | None = None):
    cfg = _config(method, steps, capacity)
    trainer = make_trainer(cfg, train.x.shape[-1], 10)
    if n_runs is None:
      self.state = trainer.init(jax.random.key(0), train)
      self.run = jax.jit(functools.partial(trainer.run_fn, num_evals=1),
                         donate_argnums=0)
    else:
      keys = jax.random.split(jax.random.key(0), n_runs)
      hp = jax.tree.map(lambda v: jnp.broadcast_to(v, (n_runs,)),
                        default_hparams(cfg))
      self.state = jax.jit(jax.vmap(trainer.init_fn, in_axes=(0, None, 0)))(
          keys, train, hp)
      self.run = jax.jit(jax.vmap(functools.partial(trainer.run_fn, num_evals=1),
                                  in_axes=(0, None, None)), donate_argnums=0)
    self.train, self.val, self.steps, self.times = train, val, steps, []
    self.state, _ = self.run(self.state, train, val)        # compile + warm up
    jax.block_until_ready(self.state)

  def once(self) -> None:
    start = time.perf_counter()
    self.state, hist = self.run(self.state, self.train, self.val)
    jax.block_until_ready((self.state, hist))
    self.times.append(time.perf_counter() - start)

  @property
  def ms_per_step(self) -> float:
    return 1e3 * float(np.median(self.times)) / self.steps


def time_interleaved(programs: dict, repeats: int) -> dict:
  """Median ms/step of each program, timing them in turns so that a change of load
  on the machine hits every program alike (the ratios are what we report)."""
  for _ in range(repeats):
    for program in programs.values():
      program.once()
  return {name: program.ms_per_step for name, program in programs.items()}


def _cost_of(fn, *args) -> dict:
  compiled = fn.lower(*args).compile()
  ca = compiled.cost_analysis()
  ca = ca[0] if isinstance(ca, (list, tuple)) else ca
  out = {"flops": float(ca.get("flops", float("nan"))),
         "bytes": float(ca.get("bytes accessed", float("nan")))}
  mem = compiled.memory_analysis()
  if mem is not None:
    out["memory_mb"] = {k: getattr(mem, f"{k}_size_in_bytes") / 2**20
                        for k in ("argument", "output", "temp", "generated_code")
                        if hasattr(mem, f"{k}_size_in_bytes")}
  return out


def xla_cost(method: str, train: Split, val: Split, capacity: int) -> dict:
  """XLA's FLOPs and bytes of one training step.

  XLA's cost analysis counts a loop body once, whatever its trip count, so this
  compiles a one-step chunk and subtracts the validation pass that ends it.
  """
  try:
    trainer = make_trainer(_config(method, 1, capacity), train.x.shape[1], 10)
    state = trainer.init(jax.random.key(0), train)
    chunk = _cost_of(jax.jit(functools.partial(trainer.run_fn, num_evals=1)),
                     state, train, val)
    evaluation = _cost_of(trainer.predict, state.params, val)
    return {"flops_per_step": chunk["flops"] - evaluation["flops"],
            "bytes_per_step": chunk["bytes"] - evaluation["bytes"],
            "compiled_memory_mb": chunk.get("memory_mb")}
  except Exception as e:  # noqa: BLE001 - cost analysis is best-effort per backend
    return {"error": f"{type(e).__name__}: {e}"}


def _small_problem(seed=0):
  rng = np.random.default_rng(seed)
  y = (np.arange(400) % 2).astype(np.int32)
  x = (rng.normal(0, 1, (400, 8)) + 1.5 * y[:, None]).astype(np.float32)
  x[rng.random(x.shape) < 0.5] = np.nan
  return prepare_tabular(RawTabular(x, y, 2, tuple(map(str, range(8))), "blobs"))


_SMALL = TrainConfig(method="gil", hidden=(16, 16), batch_size=32, num_steps=60,
                     eval_every=20, replay_capacity=512, rl_batch_size=32,
                     actor_hidden=(32, 32), critic_hidden=(32, 32))


def _max_gap(runs_a, runs_b) -> float:
  gaps = [0.0]
  for a, b in zip(runs_a, runs_b):
    for k in ("loss", "val_score"):
      gaps.append(float(np.max(np.abs(a.history[k] - b.history[k]))))
    gaps += [abs(a.test[k] - b.test[k]) for k in a.test]
    gaps.append(float(a.best_step != b.best_step))
  return max(gaps)


def equivalence_checks(n_runs: int) -> dict:
  """Do vmapped, sharded and resumed runs reproduce one-at-a-time runs?"""
  prep, tol, out = _small_problem(), 1e-4, {}
  seeds = list(range(n_runs))
  loop = [fit(_SMALL, prep, s) for s in seeds]
  gap = _max_gap(fit_many(_SMALL, prep, seeds), loop)
  out.update(vmap8_matches_loop=gap < tol, vmap8_max_gap=gap)
  if jax.device_count() > 1:
    gap = _max_gap(fit_many(_SMALL, prep, seeds, mesh=runs_mesh()), loop)
    out.update(sharded_matches_single=gap < tol, sharded_max_gap=gap,
               sharded_devices=jax.device_count())
  else:
    out.update(sharded_matches_single=None, sharded_devices=1)
  with tempfile.TemporaryDirectory() as ckpt:
    class Stop(Exception):
      pass

    def stop(p):
      if p["step"] >= 20:
        raise Stop()
    try:
      fit_many(_SMALL, prep, seeds[:2], checkpoint_dir=ckpt, steps_per_call=20,
               progress=stop)
    except Stop:
      pass
    resumed = fit_many(_SMALL, prep, seeds[:2], checkpoint_dir=ckpt, resume=True,
                       steps_per_call=20)
  gap = _max_gap(resumed, fit_many(_SMALL, prep, seeds[:2], steps_per_call=20))
  out.update(resume_matches_uninterrupted=gap < tol, resume_max_gap=gap)
  return out


def _checks_in_subprocess() -> dict:
  """Equivalence checks in a child process that simulates ``--cpu_devices`` devices.

  The device count must be fixed before JAX starts, and simulated devices would
  perturb this process's timings, so the checks run apart.
  """
  env = dict(os.environ)
  env["JAX_NUM_CPU_DEVICES"] = str(FLAGS.cpu_devices)
  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "checks.json")
    subprocess.run([sys.executable, "-m", "launch.bench", f"--workdir={tmp}",
                    "--only_checks", f"--check_runs={FLAGS.check_runs}",
                    f"--checks_out={out}"], env=env, check=True)
    with open(out) as f:
      return json.load(f)


def main(argv):
  del argv
  if FLAGS.only_checks:
    with open(FLAGS.checks_out, "w") as f:
      json.dump(equivalence_checks(FLAGS.check_runs), f)
    return
  os.makedirs(FLAGS.workdir, exist_ok=True)
  train = _synthetic(FLAGS.rows, FLAGS.features, 10, jax.random.key(1))
  val = _synthetic(256, FLAGS.features, 10, jax.random.key(2))
  names = {"plain_ms": "zero", "importance_ms": "gil_h", "gil_full_ms": "gil"}
  ms = time_interleaved(
      {name: _Timed(method, train, val, FLAGS.steps, FLAGS.replay_capacity)
       for name, method in names.items()}, FLAGS.repeats)
  xla = {}
  for name, method in names.items():
    print(f"{name:>14}: {ms[name]:8.3f} ms/step")
    xla[method] = xla_cost(method, train, val, FLAGS.replay_capacity)
    if "flops_per_step" in xla[method]:
      xla[method]["achieved_gflops"] = (xla[method]["flops_per_step"]
                                        / (ms[name] * 1e-3) / 1e9)
  plain = ms["plain_ms"]
  out = dict(ms)
  out.update(
      importance_over_plain=ms["importance_ms"] / plain,
      gil_full_over_plain=ms["gil_full_ms"] / plain,
      xla=xla,
      device=f"{jax.devices()[0].device_kind} x{jax.device_count()} "
             f"({jax.default_backend()}), {os.cpu_count()} host cores",
      shapes=dict(batch=128, layers=[FLAGS.features, 500, 500, 10],
                  replay_capacity=FLAGS.replay_capacity, steps_per_call=FLAGS.steps,
                  repeats=FLAGS.repeats),
      jax_version=jax.__version__)
  print(f"importance/plain: {out['importance_over_plain']:.3f} (target <= 1.15)")
  print(f"gil_full/plain:   {out['gil_full_over_plain']:.3f} (target <= 8)")
  for method in ("zero", "gil_h", "gil"):
    print(f"XLA {method}: {xla[method]}")

  vm = time_interleaved(
      {"one": _Timed("gil", train, val, FLAGS.vmap_steps, FLAGS.replay_capacity,
                     n_runs=1),
       "many": _Timed("gil", train, val, FLAGS.vmap_steps, FLAGS.replay_capacity,
                      n_runs=FLAGS.vmap_runs)}, FLAGS.repeats)
  one, many = vm["one"], vm["many"]
  key = "vmap8_over_1" + ("_gpu" if jax.default_backend() == "gpu" else "")
  out[key] = many / one
  out.update(vmap_one_run_ms=one, vmap_many_runs_ms=many, vmap_runs=FLAGS.vmap_runs)
  print(f"{key}: {out[key]:.2f} ({FLAGS.vmap_runs} runs {many:.1f} ms/step, "
        f"1 run {one:.1f} ms/step; target <= 8 on CPU, <= 2 on GPU)")
  if jax.default_backend() == "cpu" and FLAGS.cpu_devices > 1:
    out.update(_checks_in_subprocess())
  else:
    out.update(equivalence_checks(FLAGS.check_runs))
  for k in ("vmap8_matches_loop", "sharded_matches_single",
            "resume_matches_uninterrupted"):
    print(f"{k}: {out[k]}")
  out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(f"peak RSS: {out['peak_rss_mb']:.0f} MB   device: {out['device']}")
  with open(os.path.join(FLAGS.workdir, "bench.json"), "w") as f:
    json.dump(out, f, indent=2)
  print(f"wrote {FLAGS.workdir}/bench.json")


if __name__ == "__main__":
  app.run(main)
