"""A run's numbers depend only on its own config, data and seed
(``fit_many(..., batching="loop")``): the same bits alone, among 5 or 20 runs, at
any position, with its own mask or its own split; under the test suite's compiler
settings and under XLA's full optimisations, the users' setting (a fresh process),
where runs sharded over four devices, resuming and the rule are checked too.

(With the suite's reduced optimisations a program sharded over several devices
compiles otherwise than one device's, so the sharded check runs optimised only.)"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import gil_jax
from data_prep import tabular
from gil_jax.config import from_options
from gil_jax.training.fit import fit_many

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPTIONS = dict(hidden=(16, 16), batch_size=32, num_steps=60, eval_every=20,
               actor_hidden=(16, 16), critic_hidden=(16, 16), replay_capacity=512,
               rl_batch_size=32)


def _mask_data(k):
  return gil_jax.prepare_tabular(tabular.load_digits(0.5, mask_seed=k), scaling="max",
                                 val_fraction=0.15, test_fraction=0.15)


def _split_data(k):
  return gil_jax.prepare_tabular(tabular.load_digits(0.5, mask_seed=0), scaling="max",
                                 val_fraction=0.15, test_fraction=0.15, split_seed=k)


def _bits(fit):
  return ([np.asarray(v).tobytes() for v in jax.tree.leaves(fit.params)],
          {k: np.asarray(v).tobytes() for k, v in fit.history.items()},
          fit.best_step, fit.test)


@pytest.mark.parametrize("source, make_data", [("gil", _mask_data),
                                               ("plain", _split_data)],
                         ids=["gil_own_mask", "plain_own_split"])
def test_a_run_is_the_same_alone_and_among_5_and_20(source, make_data):
  config = from_options(source, OPTIONS)
  data = [make_data(k) for k in range(20)]
  seeds = list(range(100, 120))
  among = {n: fit_many(config, data[:n], seeds[:n], batching="loop")
           for n in (5, 20)}
  for i in (0, 3):
    alone = fit_many(config, [data[i]], [seeds[i]], batching="loop")[0]
    assert _bits(among[5][i]) == _bits(alone), f"run {i} among 5"
    assert _bits(among[20][i]) == _bits(alone), f"run {i} among 20"


def test_shared_data_runs_are_the_runs_alone():
  config = from_options("gil", OPTIONS)
  data = _mask_data(0)
  many = fit_many(config, data, [7, 8, 9], batching="loop")
  assert _bits(many[2]) == _bits(fit_many(config, data, [9], batching="loop")[0])


def test_unknown_batching_is_refused():
  with pytest.raises(ValueError, match="batching must be one of"):
    fit_many(from_options("plain", OPTIONS), _mask_data(0), [0], batching="pmap")


OPTIMISED_CHECKS = r"""
import json, tempfile
import jax, jax.numpy as jnp, numpy as np
import gil_jax
from data_prep import tabular
from gil_jax.config import from_options
from gil_jax.training.callbacks import Checkpointing, Progress
from gil_jax.training.fit import fit_many, runs_mesh

options = %(options)s
data = [gil_jax.prepare_tabular(tabular.load_digits(0.5, mask_seed=k), scaling="max",
                                val_fraction=0.15, test_fraction=0.15) for k in range(5)]
bits = lambda f: ([np.asarray(v).tobytes() for v in jax.tree.leaves(f.params)],
                  f.best_step, f.test)
out = {}
for source in ("plain", "gil"):
  config = from_options(source, options)
  many = fit_many(config, data, [0, 1, 2, 3, 4], batching="loop")
  out[f"{source}_group"] = all(
      bits(many[i]) == bits(fit_many(config, [data[i]], [i], batching="loop")[0])
      for i in (0, 4))
# Sharded over the four devices, each looping over its runs: the runs alone.
config = from_options("gil", options)
sharded = fit_many(config, data + data[:1], [0, 1, 2, 3, 4, 5], batching="loop",
                   mesh=runs_mesh())
out["sharded"] = all(
    bits(sharded[i]) == bits(fit_many(config, [(data + data[:1])[i]], [i],
                                      batching="loop")[0]) for i in (0, 5))
# Resume: stopped after the first host call, continued, equals uninterrupted.
config = from_options("gil", options)
class Stop(Exception):
  pass
def stop(info):
  if info["step"] >= 20:
    raise Stop()
with tempfile.TemporaryDirectory() as d:
  try:
    fit_many(config, data[:2], [0, 1], steps_per_call=20, batching="loop",
             callbacks=[Checkpointing(d), Progress(stop)])
  except Stop:
    pass
  resumed = fit_many(config, data[:2], [0, 1], steps_per_call=20, batching="loop",
                     callbacks=[Checkpointing(d, resume=True)])
whole = fit_many(config, data[:2], [0, 1], steps_per_call=20, batching="loop")
out["resume"] = all(bits(a) == bits(b) for a, b in zip(resumed, whole))
# The rule: importance_matmul's kernel gradient equals the per-example definition.
x = jax.random.normal(jax.random.key(0), (32, 12))
a = jax.random.uniform(jax.random.key(1), (32, 12))
w = jax.random.normal(jax.random.key(2), (12, 5))
loss = lambda w, x, a: jnp.mean(jnp.tanh(gil_jax.importance_matmul(x, w, a)) ** 2)
rule = jax.jit(jax.grad(loss))(w, x, a)
per_example = jax.vmap(jax.grad(lambda w, xi: loss(w, xi[None], jnp.ones((1, 12)))),
                       in_axes=(None, 0))(w, x)
definition = jnp.mean(per_example * a[:, :, None], axis=0)
out["rule_gap"] = float(jnp.max(jnp.abs(rule - definition)))
out["rule_scale"] = float(jnp.max(jnp.abs(definition)))
print(json.dumps(out))
"""


def test_invariance_resume_and_rule_hold_under_full_optimisations(tmp_path):
  env = {k: v for k, v in os.environ.items()
         if k not in ("JAX_DISABLE_MOST_OPTIMIZATIONS", "JAX_NUM_CPU_DEVICES")}
  env.update(JAX_PLATFORMS="cpu", PYTHONPATH=ROOT, JAX_NUM_CPU_DEVICES="4")
  script = OPTIMISED_CHECKS % {"options": repr(OPTIONS)}
  proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert out["plain_group"] and out["gil_group"]
  assert out["sharded"]
  assert out["resume"]
  assert out["rule_gap"] <= 1e-6 * out["rule_scale"]


def test_launcher_refuses_an_unknown_batching_before_loading_data():
  from launch import datasets, validation
  from launch.configs import digits_mcar
  config = digits_mcar.get_config()
  config.batching = "pmap"
  with pytest.raises(validation.ConfigError, match=r"config\.batching must be"):
    validation.check_config(config, datasets.DATASETS)
