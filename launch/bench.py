r"""Speed and memory of GIL's training step against a plain step, in one process.

  python -m launch.bench --workdir=/tmp/gil_bench
  python -m launch.bench --workdir=/tmp/gil_bench --models=lstm     # LSTM rows alone
  python -m launch.bench --workdir=/tmp/gil_bench --models=mlp,lstm  # all rows

On MNIST-shaped inputs (batch 128, 784 -> 500 -> 500 -> 10, 50 % MCAR), each inside
the same scanned on-device training loop (``Trainer.run``):

  (a) plain_ms:      a plain Adam step of the predictor (method ``zero``);
  (b) importance_ms: the importance-weighted predictor step alone (``gil_h``);
  (c) gil_full_ms:   the full GIL step: behaviour policy, importance-weighted predictor
                     update, reward, next state, replay write and sample, critic and
                     actor updates, Polyak targets (``gil``).

Then, for many runs at once (vmap / sharding / checkpoints):

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

LSTM rows (``--models=lstm``, alone, or ``--models=mlp,lstm``, with the
MLP rows; one set of keys per width ``H`` of ``--lstm_sizes``): the same
three steps for GIL's LSTM predictor (``TrainConfig(model="lstm")``) on synthetic
sequences (batch 128, ``T = --lstm_max_len`` = 48 steps, ``d = --lstm_features`` = 35,
80 % missing, lengths uniform in [1, T]): ``lstm{H}_plain_ms``,
``lstm{H}_importance_ms`` (the importance ``[B, T, d]`` weights the input kernel's
gradient, ``gil_h``), ``lstm{H}_gil_full_ms``, ``lstm{H}_importance_over_plain``
(target <= 1.15), ``lstm{H}_gil_over_plain`` and ``xla["lstm{H}"][method]``.  A wide
GIL-LSTM step takes seconds on a CPU, so ``--lstm_steps`` sets the steps per timed
call for each width (all rows take minutes on a CPU, half of it compilation).  Each
timed call ends with a validation pass (16 sequences), which at H = 1024 costs a few
% of a step: it is timed alone, in the same interleaving, reported as
``lstm{H}_val_pass_ms`` and subtracted.

Writes ``WORKDIR/bench.json`` with ``plain_ms``, ``importance_ms``, ``gil_full_ms``,
``importance_over_plain``, ``gil_full_over_plain``, ``peak_rss_mb``, ``device`` and
the keys above.  Targets on a 2-core CPU: importance_over_plain <= 1.15,
gil_full_over_plain <= 8.
"""

import contextlib
import dataclasses
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from gil_jax.authors.predictor import AuthorsPredictor
from gil_jax.config import TrainConfig, default_hparams, from_options
from gil_jax.data import RawTabular, Split, prepare_tabular
from gil_jax.methods import method_spec
from gil_jax.sources.meta import MetaConfig
from gil_jax.training.callbacks import Checkpointing, Progress
from gil_jax.training.fit import fit, fit_many, runs_mesh
from gil_jax.training.step import make_trainer
from launch import quiet_logs
from launch import user_errors

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for bench.json.", required=True)
flags.DEFINE_integer("steps", 200, "Steps per timed host call.")
flags.DEFINE_integer("repeats", 7, "Timed host calls per variant, interleaved "
                     "(median reported).")
flags.DEFINE_integer("rows", 10_000, "Rows of the synthetic training set.")
flags.DEFINE_integer("features", 784, "Input width d.")
flags.DEFINE_list("hidden", ["500", "500"], "Hidden widths of the MLP rows' "
                  "predictor (the paper's MNIST MLP; tests use tiny ones).")
flags.DEFINE_bool("credit_rows", True, "Also time the held-out credit methods "
                  "(gil_heldout, gil_l2rw, gil_meta); tests leave them out.")
flags.DEFINE_list("policy_hidden", ["400", "300"], "Hidden widths of GIL's actor and "
                  "critic in every row (App. D).")
flags.DEFINE_list("meta_wide_hidden", ["400", "300"], "Hidden widths of gil_meta's "
                  "importance network in the meta_wide row (the meta_ms row takes "
                  "TrainConfig's default; this one the actor's widths).")
flags.DEFINE_integer("replay_capacity", 10_000, "GIL replay buffer size.")
flags.DEFINE_integer("vmap_runs", 8, "Runs in the vmapped timing.")
flags.DEFINE_integer("vmap_steps", 50, "Steps per timed call in the vmapped timing.")
flags.DEFINE_integer("check_runs", 8, "Runs (seeds) in the equivalence checks.")
flags.DEFINE_integer("cpu_devices", 4, "Simulated CPU devices for the sharding "
                     "check when the backend is the CPU (run in a child process).")
flags.DEFINE_list("models", ["mlp"], "Which rows to run, comma-separated: mlp (the "
                  "MLP rows with the vmap/equivalence checks), lstm and/or authors "
                  "(GIL's MLP step under the authors' BN / L2, against the default).")
flags.register_validator("models",
                         lambda v: bool(v) and set(v) <= {"mlp", "lstm", "authors"},
                         "--models takes mlp, lstm and/or authors.")
flags.DEFINE_integer("authors_steps", 5, "Steps per timed host call of the authors "
                     "rows (a batch-norm GIL step takes about a second on 2 cores).")
flags.DEFINE_list("lstm_sizes", ["128", "1024"], "LSTM widths H of the LSTM rows "
                  "(empty: none).")
flags.DEFINE_list("lstm_steps", ["8", "2"], "Steps per timed host call of the LSTM "
                  "rows: one per --lstm_sizes entry, or one for all.")
flags.DEFINE_integer("lstm_repeats", 5, "Timed host calls per LSTM variant, "
                     "interleaved (median reported).")
flags.DEFINE_integer("lstm_rows", 2000, "Sequences in the synthetic LSTM training set.")
flags.DEFINE_integer("lstm_max_len", 48, "Padded sequence length T of the LSTM rows.")
flags.DEFINE_integer("lstm_features", 35, "Input width d of the LSTM rows.")
flags.DEFINE_bool("only_checks", False, "Internal: run only the equivalence checks.")
flags.DEFINE_string("checks_out", None, "Internal: where --only_checks writes.")


def _synthetic(rows, d, classes, key):
  kx, km, ky = jax.random.split(key, 3)
  m = (jax.random.uniform(km, (rows, d)) > 0.5).astype(jnp.float32)
  x = jax.random.uniform(kx, (rows, d)) * m
  return Split(x=x, m=m, y=jax.random.randint(ky, (rows,), 0, classes))


_MISSING = 0.8          # share of missing entries in the synthetic sequences
_LSTM_VAL_ROWS = 16     # each timed call ends with a validation pass (subtracted)
_LSTM_CLASSES = 2


def _synthetic_sequences(rows, max_len, d, classes, key):
  """Sequences ``[rows, T, d]`` with 80 % MCAR and lengths uniform in ``[1, T]``.

  Padded steps hold values too: the model must ignore them, as with real data.
  """
  kx, km, ky, kl = jax.random.split(key, 4)
  m = (jax.random.uniform(km, (rows, max_len, d)) > _MISSING).astype(jnp.float32)
  x = jax.random.normal(kx, (rows, max_len, d)) * m
  return Split(x=x, m=m, y=jax.random.randint(ky, (rows,), 0, classes),
               length=jax.random.randint(kl, (rows,), 1, max_len + 1))


def _config(method, steps, capacity, model="mlp", hidden=(500, 500),
            policy_hidden=(400, 300), meta_wide_hidden=(400, 300), authors=None):
  """A bench row's TrainConfig for a launcher method.  ``gil_meta`` takes its
  importance network's default width; the row ``gil_meta_wide`` is ``gil_meta``
  with ``meta_wide_hidden``."""
  widths = tuple(policy_hidden)
  meta = {}
  if method == "gil_meta_wide":
    method, meta = "gil_meta", {"meta_hidden": tuple(meta_wide_hidden)}
  return from_options(method_spec(method).source, dict(
      model=model, hidden=tuple(hidden), batch_size=128, num_steps=steps,
      eval_every=steps, replay_capacity=capacity, actor_hidden=widths,
      critic_hidden=widths, authors=authors or AuthorsPredictor(), **meta))


def _widths(values) -> tuple[int, ...]:
  return tuple(int(v) for v in values)


def _classes(cfg: TrainConfig) -> int:
  return _LSTM_CLASSES if cfg.model == "lstm" else 10


class _Timed:
  """One compiled program ``run(state, *args) -> (state, out)``, timed call by call
  (``steps`` steps a call)."""

  def __init__(self, run: Callable, state, args: tuple, steps: int):
    self.run, self.args, self.steps, self.times = run, args, steps, []
    self.state, _ = run(state, *args)                      # compile + warm up
    jax.block_until_ready(self.state)

  def once(self) -> None:
    start = time.perf_counter()
    self.state, out = self.run(self.state, *self.args)
    jax.block_until_ready((self.state, out))
    self.times.append(time.perf_counter() - start)

  @property
  def ms_per_step(self) -> float:
    return 1e3 * float(np.median(self.times)) / self.steps


def _training(cfg: TrainConfig, train: Split, val: Split,
              n_runs: int | None = None) -> _Timed:
  """``cfg.num_steps`` training steps a call, then one validation pass."""
  trainer = make_trainer(cfg, train.x.shape[-1], _classes(cfg))
  if n_runs is None:
    state = trainer.init(jax.random.key(0), train)
    run = jax.jit(functools.partial(trainer.run_fn, num_evals=1), donate_argnums=0)
  else:
    keys = jax.random.split(jax.random.key(0), n_runs)
    hp = jax.tree.map(lambda v: jnp.broadcast_to(v, (n_runs,)), default_hparams(cfg))
    state = jax.jit(jax.vmap(trainer.init_fn, in_axes=(0, None, 0)))(keys, train, hp)
    run = jax.jit(jax.vmap(functools.partial(trainer.run_fn, num_evals=1),
                           in_axes=(0, None, None)), donate_argnums=0)
  return _Timed(run, state, (train, val), cfg.num_steps)


def _validation(cfg: TrainConfig, train: Split, val: Split) -> _Timed:
  """The validation pass that ends each call of ``_training(cfg, ...)``, alone.

  For a wide LSTM it costs a fair share of a training step, so the LSTM rows
  subtract it.
  """
  trainer = make_trainer(cfg, train.x.shape[-1], _classes(cfg))
  params = trainer.init(jax.random.key(0), train).params
  return _Timed(lambda p, v: (p, trainer.predict(p, v)), params, (val,), 1)


def time_interleaved(programs: dict, repeats: int) -> dict:
  """Median ms/step of each program, timing them in turns so that a change of load
  on the machine hits every program alike (the ratios are what we report)."""
  for _ in range(repeats):
    for program in programs.values():
      program.once()
  return {name: program.ms_per_step for name, program in programs.items()}


@contextlib.contextmanager
def _scans_unrolled(unroll: int):
  """Traces every ``lax.scan`` with ``unroll`` iterations per loop trip.

  Trace caches are cleared on entry and exit, so that no trace made outside is
  reused inside, nor one made inside outside.
  """
  scan = jax.lax.scan
  jax.lax.scan = lambda *args, **kwargs: scan(*args, **{**kwargs, "unroll": unroll})
  jax.clear_caches()
  try:
    yield
  finally:
    jax.lax.scan = scan
    jax.clear_caches()


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


def _padded_steps(split: Split, max_len: int) -> Split:
  """The sequences padded with zeros to ``max_len`` steps (lengths unchanged)."""
  pad = [(0, 0), (0, max_len - split.x.shape[1]), (0, 0)]
  return split._replace(x=jnp.pad(split.x, pad), m=jnp.pad(split.m, pad))


def xla_cost(cfg: TrainConfig, train: Split, val: Split) -> dict:
  """XLA's FLOPs and bytes of one training step of ``cfg``.

  XLA's cost analysis counts a loop body once, whatever its trip count, so this
  compiles a one-step chunk and subtracts the validation pass that ends it.

  The LSTM's step also scans over its ``T`` time steps (forward, backward, and for
  GIL the forward pass after the update), each body counted once.  Unrolled fully,
  XLA compiles for minutes, counts work the loop does not do (stacking) and drops
  some it does (``h_0 @ U`` with ``h_0 = 0``), so the FLOPs of one time step of every
  scan are measured instead, as the difference between the step compiled with its
  scans unrolled by 2 (two bodies per loop trip) and as is, and added ``T - 1``
  times.  That needs an even ``T >= 4`` (one whole loop trip left otherwise, which
  XLA inlines and simplifies): other ``T`` measure it on sequences padded so.  Bytes
  do not extrapolate so (unrolling changes fusion): ``bytes_per_step_rolled`` counts
  each scan body once.
  """
  cfg = dataclasses.replace(cfg, num_steps=1, eval_every=1)

  def step_cost(train, val):
    trainer = make_trainer(cfg, train.x.shape[-1], _classes(cfg))
    state = trainer.init(jax.random.key(0), train)
    chunk = _cost_of(jax.jit(functools.partial(trainer.run_fn, num_evals=1)),
                     state, train, val)
    evaluation = _cost_of(trainer.predict, state.params, val)
    return (chunk["flops"] - evaluation["flops"],
            chunk["bytes"] - evaluation["bytes"], chunk.get("memory_mb"))

  try:
    flops, num_bytes, memory = step_cost(train, val)
    if cfg.model != "lstm":
      return {"flops_per_step": flops, "bytes_per_step": num_bytes,
              "compiled_memory_mb": memory}
    time_steps = train.x.shape[1]
    if time_steps > 1:
      even = max(4, time_steps + time_steps % 2)
      data = (train, val)
      rolled = flops
      if even != time_steps:
        data = (_padded_steps(train, even), _padded_steps(val, even))
        rolled, _, _ = step_cost(*data)
      with _scans_unrolled(2):
        unrolled, _, _ = step_cost(*data)
      flops += (time_steps - 1) * (unrolled - rolled)
    return {"flops_per_step": flops, "bytes_per_step_rolled": num_bytes,
            "compiled_memory_mb": memory}
  except Exception as e:  # noqa: BLE001 - cost analysis is best-effort per backend
    return {"error": f"{type(e).__name__}: {e}"}


def _with_achieved(cost: dict, ms: float) -> dict:
  if "flops_per_step" in cost:
    cost["achieved_gflops"] = cost["flops_per_step"] / (ms * 1e-3) / 1e9
  return cost


_ROWS = {"plain_ms": "zero", "importance_ms": "gil_h", "gil_full_ms": "gil",
         # Importance from held-out credit (targets: l2rw and meta <= 3x plain).
         "heldout_ms": "gil_heldout", "l2rw_ms": "gil_l2rw", "meta_ms": "gil_meta",
         # gil_meta with a wider importance network (--meta_wide_hidden).
         "meta_wide_ms": "gil_meta_wide"}
_CREDIT_RATIOS = {"heldout_over_plain": "heldout_ms", "l2rw_over_plain": "l2rw_ms",
                  "meta_over_plain": "meta_ms",
                  "meta_wide_over_plain": "meta_wide_ms"}


def _rows() -> dict[str, str]:
  """The rows timed: all, or (--nocredit_rows) plain, importance and full GIL."""
  return {name: method for name, method in _ROWS.items()
          if FLAGS.credit_rows or name not in _CREDIT_RATIOS.values()}


def mlp_rows() -> dict:
  """Plain, importance-weighted and full GIL MLP steps; vmap and equivalence checks."""
  train = _synthetic(FLAGS.rows, FLAGS.features, 10, jax.random.key(1))
  val = _synthetic(256, FLAGS.features, 10, jax.random.key(2))
  cfgs = {name: _config(method, FLAGS.steps, FLAGS.replay_capacity,
                        hidden=_widths(FLAGS.hidden),
                        policy_hidden=_widths(FLAGS.policy_hidden),
                        meta_wide_hidden=_widths(FLAGS.meta_wide_hidden))
          for name, method in _rows().items()}
  ms = time_interleaved({name: _training(cfg, train, val)
                         for name, cfg in cfgs.items()},
                        FLAGS.repeats)
  xla = {}
  for name, method in _rows().items():
    print(f"{name:>14}: {ms[name]:8.3f} ms/step")
    xla[method] = _with_achieved(xla_cost(cfgs[name], train, val), ms[name])
  plain = ms["plain_ms"]
  out = dict(ms)
  out.update(
      importance_over_plain=ms["importance_ms"] / plain,
      gil_full_over_plain=ms["gil_full_ms"] / plain,
      xla=xla,
      shapes={"batch": 128,
              "layers": [FLAGS.features, *_widths(FLAGS.hidden), 10],
              "policy_hidden": list(_widths(FLAGS.policy_hidden)),
              "meta_hidden": list(MetaConfig().meta_hidden),
              "meta_wide_hidden": list(_widths(FLAGS.meta_wide_hidden)),
              "replay_capacity": FLAGS.replay_capacity,
              "steps_per_call": FLAGS.steps, "repeats": FLAGS.repeats})
  out.update({k: ms[v] / plain for k, v in _CREDIT_RATIOS.items() if v in ms})
  print(f"importance/plain: {out['importance_over_plain']:.3f} (target <= 1.15)")
  print(f"gil_full/plain:   {out['gil_full_over_plain']:.3f} (target <= 8)")
  for k in _CREDIT_RATIOS.keys() & out.keys():
    print(f"{k}: {out[k]:.3f}" + ("" if k == "heldout_over_plain"
                                  else " (target <= 3)"))
  for method in _rows().values():
    print(f"XLA {method}: {xla[method]}")

  vm = time_interleaved(
      {n: _training(_config("gil", FLAGS.vmap_steps, FLAGS.replay_capacity,
                            hidden=_widths(FLAGS.hidden),
                            policy_hidden=_widths(FLAGS.policy_hidden)),
                    train, val, n_runs=runs)
       for n, runs in (("one", 1), ("many", FLAGS.vmap_runs))}, FLAGS.repeats)
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
  return out


# name -> (method, switches).  GIL-H's step has no DDPG part to hide the batch-norm
# Jacobian behind, so its ratio is the predictor's own.
_AUTHORS_ROWS = {"authors_default_gil_ms": ("gil", AuthorsPredictor()),
                 "authors_bn_gil_ms": ("gil", AuthorsPredictor(batch_norm=True)),
                 "authors_l2_gil_ms": ("gil", AuthorsPredictor(l2=0.02)),
                 "authors_default_gil_h_ms": ("gil_h", AuthorsPredictor()),
                 "authors_bn_gil_h_ms": ("gil_h", AuthorsPredictor(batch_norm=True))}


def authors_rows() -> dict:
  """GIL's and GIL-H's MLP steps with the authors' batch norm (per-example,
  batch-coupled first-layer gradients) or gated L2, against the default step of the
  same method, interleaved."""
  train = _synthetic(FLAGS.rows, FLAGS.features, 10, jax.random.key(1))
  val = _synthetic(256, FLAGS.features, 10, jax.random.key(2))
  ms = time_interleaved(
      {name: _training(_config(method, FLAGS.authors_steps, FLAGS.replay_capacity,
                               hidden=_widths(FLAGS.hidden),
                               policy_hidden=_widths(FLAGS.policy_hidden),
                               authors=mode), train, val)
       for name, (method, mode) in _AUTHORS_ROWS.items()}, FLAGS.repeats)
  out = dict(ms)
  for name, (method, _) in _AUTHORS_ROWS.items():
    if not name.startswith("authors_default_"):
      out[name.replace("_ms", "_over_default")] = (
          ms[name] / ms[f"authors_default_{method}_ms"])
  out["authors_steps_per_call"] = FLAGS.authors_steps
  for k, v in out.items():
    print(f"{k:>30}: {v:10.3f}")
  return out


def _lstm_sizes_and_steps() -> tuple[list[int], list[int]]:
  sizes = [int(h) for h in FLAGS.lstm_sizes]
  steps = [int(s) for s in FLAGS.lstm_steps]
  if "lstm" not in FLAGS.models or not sizes:
    return [], []
  if len(steps) == 1:
    steps *= len(sizes)
  if len(steps) != len(sizes) or min(steps, default=1) < 1:
    raise app.UsageError(f"--lstm_steps needs one positive value or one per "
                         f"--lstm_sizes entry; got {FLAGS.lstm_steps} for "
                         f"{FLAGS.lstm_sizes}")
  return sizes, steps


def lstm_rows(sizes: list[int], steps: list[int]) -> dict:
  """Plain, importance-weighted and full GIL LSTM steps, for each width in ``sizes``
  (``steps`` training steps per timed call)."""
  shape = (FLAGS.lstm_max_len, FLAGS.lstm_features)
  train = _synthetic_sequences(FLAGS.lstm_rows, *shape, _LSTM_CLASSES,
                               jax.random.key(3))
  val = _synthetic_sequences(_LSTM_VAL_ROWS, *shape, _LSTM_CLASSES, jax.random.key(4))
  out, xla = {}, {}
  for hidden, n_steps in zip(sizes, steps):
    start = time.perf_counter()
    cfgs = {name: _config(method, n_steps, FLAGS.replay_capacity, model="lstm",
                          hidden=(hidden,),
                          policy_hidden=_widths(FLAGS.policy_hidden),
                          meta_wide_hidden=_widths(FLAGS.meta_wide_hidden))
            for name, method in _rows().items()}
    programs = {name: _training(cfg, train, val) for name, cfg in cfgs.items()}
    programs["val_pass_ms"] = _validation(cfgs["plain_ms"], train, val)
    ms = time_interleaved(programs, FLAGS.lstm_repeats)
    val_ms = ms.pop("val_pass_ms")
    net = {name: v - val_ms / n_steps for name, v in ms.items()}
    # With few steps per call on a busy machine the timing noise can exceed a step:
    # never report a negative step time; keep the gross figures and say so.
    subtracted = min(net.values()) > 0
    if subtracted:
      ms = net
    else:
      print(f"lstm{hidden}: timing noise exceeds the step time after subtracting "
            f"the validation pass ({val_ms:.3f} ms / {n_steps} steps); reporting "
            "gross ms/step (raise --lstm_steps or --lstm_repeats)")
    xla[f"lstm{hidden}"] = {
        method: _with_achieved(xla_cost(cfgs[name], train, val),
                               ms[name])
        for name, method in _rows().items()}
    row = {f"lstm{hidden}_{name}": v for name, v in ms.items()}
    row[f"lstm{hidden}_val_pass_ms"] = val_ms
    row[f"lstm{hidden}_val_pass_subtracted"] = float(subtracted)
    row[f"lstm{hidden}_importance_over_plain"] = (ms["importance_ms"]
                                                  / ms["plain_ms"])
    row[f"lstm{hidden}_gil_over_plain"] = ms["gil_full_ms"] / ms["plain_ms"]
    row.update({f"lstm{hidden}_{k}": ms[v] / ms["plain_ms"]
                for k, v in _CREDIT_RATIOS.items() if v in ms})
    out.update(row)
    for k, v in row.items():
      print(f"{k:>30}: {v:10.3f}")
    for method, cost in xla[f"lstm{hidden}"].items():
      print(f"XLA lstm{hidden} {method}: {cost}")
    print(f"lstm{hidden}: {time.perf_counter() - start:.0f} s")
  out["xla"] = xla
  out["shapes"] = {"lstm": {
      "batch": 128, "max_len": FLAGS.lstm_max_len, "features": FLAGS.lstm_features,
      "missing": _MISSING, "classes": _LSTM_CLASSES, "train_rows": FLAGS.lstm_rows,
      "val_rows": _LSTM_VAL_ROWS, "sizes": sizes, "steps_per_call": steps,
      "repeats": FLAGS.lstm_repeats, "replay_capacity": FLAGS.replay_capacity,
      "policy_hidden": list(_widths(FLAGS.policy_hidden))}}
  return out


def _small_problem(seed=0):
  rng = np.random.default_rng(seed)
  y = (np.arange(400) % 2).astype(np.int32)
  x = (rng.normal(0, 1, (400, 8)) + 1.5 * y[:, None]).astype(np.float32)
  x[rng.random(x.shape) < 0.5] = np.nan
  return prepare_tabular(RawTabular(x, y, 2, tuple(map(str, range(8))), "blobs"))


_SMALL = from_options("gil", dict(hidden=(16, 16), batch_size=32, num_steps=60,
                                  eval_every=20, replay_capacity=512,
                                  rl_batch_size=32, actor_hidden=(32, 32),
                                  critic_hidden=(32, 32)))


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
      fit_many(_SMALL, prep, seeds[:2], steps_per_call=20,
               callbacks=[Checkpointing(ckpt), Progress(stop)])
    except Stop:
      pass
    resumed = fit_many(_SMALL, prep, seeds[:2], steps_per_call=20,
                       callbacks=[Checkpointing(ckpt, resume=True)])
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
  quiet_logs.quiet_libraries()
  if FLAGS.only_checks:
    with open(FLAGS.checks_out, "w") as f:
      json.dump(equivalence_checks(FLAGS.check_runs), f)
    return
  sizes, steps = _lstm_sizes_and_steps()  # checked before any timing; [] if no LSTM
  os.makedirs(FLAGS.workdir, exist_ok=True)
  out = {}
  if "mlp" in FLAGS.models:
    out.update(mlp_rows())
  if "authors" in FLAGS.models:
    out.update(authors_rows())
  if sizes:
    lstm = lstm_rows(sizes, steps)
    out.setdefault("xla", {}).update(lstm.pop("xla"))
    out.setdefault("shapes", {}).update(lstm.pop("shapes"))
    out.update(lstm)
  out.update(
      device=f"{jax.devices()[0].device_kind} x{jax.device_count()} "
             f"({jax.default_backend()}), {os.cpu_count()} host cores",
      jax_version=jax.__version__)
  out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(f"peak RSS: {out['peak_rss_mb']:.0f} MB   device: {out['device']}")
  with open(os.path.join(FLAGS.workdir, "bench.json"), "w") as f:
    json.dump(out, f, indent=2)
  print(f"wrote {FLAGS.workdir}/bench.json")


if __name__ == "__main__":
  user_errors.run(main)
