"""Many runs in one program: vmap over seeds/data/hyper-parameters, sharding over
devices, checkpoint/resume, profiling.  Each must reproduce the one-run numbers."""

import dataclasses
import glob
import os
import shutil

import jax
import numpy as np
import pytest

from gil_jax.config import default_hparams
from gil_jax.training.callbacks import Checkpointing, Profiling, Progress
from gil_jax.training.fit import fit, fit_many, runs_mesh

from test_train import _blobs, tiny


def _config(source="gil", **overrides):
  return tiny(source, num_steps=60, eval_every=20, **overrides)


CFG = _config()


def _assert_same_run(a, b, rtol=1e-4):
  np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=rtol,
                             atol=1e-6)
  np.testing.assert_allclose(a.history["val_score"], b.history["val_score"],
                             rtol=rtol, atol=1e-6)
  assert a.best_step == b.best_step
  for k in a.test:
    np.testing.assert_allclose(a.test[k], b.test[k], rtol=rtol, atol=1e-5)


def test_vmapped_seeds_match_running_each_seed_alone():
  prep = _blobs()
  many = fit_many(CFG, prep, [0, 1, 2])
  for seed, got in zip([0, 1, 2], many):
    _assert_same_run(got, fit(CFG, prep, seed))
  assert not np.allclose(many[0].history["loss"], many[1].history["loss"])


def test_vmapped_mask_seeds_and_hyperparameters_match_single_runs():
  preps = [_blobs(seed=s) for s in (0, 1)]
  hps = [default_hparams(CFG, learning_rate=3e-3, p2=0.5),
         default_hparams(CFG, learning_rate=1e-3, p2=0.35)]
  many = fit_many(CFG, preps, [5, 5], hparams=hps)
  single0 = fit(dataclasses.replace(CFG, learning_rate=3e-3), preps[0], 5)
  single1 = fit(_config(learning_rate=1e-3,
                        exploration=CFG.source_config.exploration._replace(p2=0.35)),
                preps[1], 5)
  _assert_same_run(many[0], single0)
  _assert_same_run(many[1], single1)


def test_sharded_over_four_devices_matches_one_device():
  assert jax.device_count() == 4, "tests/conftest.py sets 4 CPU devices"
  prep = _blobs()
  mesh = runs_mesh()
  seeds = [0, 1, 2, 3, 4]                       # 5 runs: padded to 8 over 4 devices
  sharded = fit_many(CFG, prep, seeds, mesh=mesh)
  single = fit_many(CFG, prep, seeds)
  assert len(sharded) == 5
  for a, b in zip(sharded, single):
    _assert_same_run(a, b)


def test_vmapped_gil_d_reward_weights_match_single_runs():
  cfg = _config("gil_d")
  prep = _blobs()
  many = fit_many(cfg, prep, [1, 1], hparams=[default_hparams(cfg, gil_d_c=0.0),
                                              default_hparams(cfg, gil_d_c=20.0)])
  _assert_same_run(many[0], fit(_config("gil_d", gil_d_c=0.0), prep, 1))
  _assert_same_run(many[1], fit(_config("gil_d", gil_d_c=20.0), prep, 1))
  assert not np.allclose(many[0].history["reward"], many[1].history["reward"])


def test_hyperparameter_overrides_are_validated():
  with pytest.raises(ValueError, match="floors"):
    default_hparams(CFG, p2=0.1)
  with pytest.raises(ValueError, match="unknown hyper-parameters"):
    default_hparams(CFG, momentum=0.9)


def test_resumed_run_matches_uninterrupted_run(tmp_path):
  prep = _blobs()
  ckpt = str(tmp_path / "ckpt")

  class Stop(Exception):
    pass

  def stop_after_first_call(p):
    if p["step"] >= 20:
      raise Stop()

  with pytest.raises(Stop):
    fit_many(CFG, prep, [0, 1], steps_per_call=20,
             callbacks=[Checkpointing(ckpt), Progress(stop_after_first_call)])
  assert sorted(os.listdir(ckpt)) == ["20"]
  resumed = fit_many(CFG, prep, [0, 1], callbacks=[Checkpointing(ckpt, resume=True)],
                     steps_per_call=20)
  straight = fit_many(CFG, prep, [0, 1], steps_per_call=20)
  for a, b in zip(resumed, straight):
    _assert_same_run(a, b, rtol=1e-6)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6),
                 a.params, b.params)


def test_resume_with_different_shapes_names_the_field(tmp_path):
  prep = _blobs()
  ckpt = str(tmp_path / "ckpt")
  fit_many(CFG, prep, [0], callbacks=[Checkpointing(ckpt)], steps_per_call=20)
  other = dataclasses.replace(CFG, hidden=(8, 16))
  with pytest.raises(ValueError, match=r"config\.hidden"):
    fit_many(other, prep, [0], callbacks=[Checkpointing(ckpt, resume=True)])


def test_corrupt_newest_checkpoint_falls_back_to_previous_good_one(tmp_path):
  prep = _blobs()
  ckpt = str(tmp_path / "ckpt")
  straight = fit_many(CFG, prep, [0], callbacks=[Checkpointing(ckpt)],
                      steps_per_call=20)
  assert sorted(os.listdir(ckpt), key=int) == ["20", "40", "60"]
  for f in glob.glob(os.path.join(ckpt, "60", "state", "*")):
    if os.path.isdir(f):
      shutil.rmtree(f)
    else:
      os.remove(f)
  with pytest.warns(UserWarning, match="60"):
    resumed = fit_many(CFG, prep, [0], callbacks=[Checkpointing(ckpt, resume=True)],
                       steps_per_call=20)
  _assert_same_run(resumed[0], straight[0], rtol=1e-6)


def test_profiler_writes_a_trace(tmp_path):
  prof = str(tmp_path / "prof")
  fit_many(_config("plain"), _blobs(), [0], steps_per_call=20,
           callbacks=[Profiling(prof)])
  traces = glob.glob(os.path.join(prof, "**", "*.xplane.pb"), recursive=True)
  assert traces, os.listdir(prof)
