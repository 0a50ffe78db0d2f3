"""Resuming never mixes two runs: the fingerprint covers data and schedule, a
workdir's earlier checkpoints are never silently skipped, and a resumed run ends at
num_steps."""

import copy
import os
import re

import numpy as np
import pytest

from gil_jax.training import checkpoint as ckpt_lib
from gil_jax.training.callbacks import Checkpointing, Progress
from gil_jax.training.fit import fit_many
from launch import experiment
from launch import resume
from launch.configs import digits_mcar

from test_train import _blobs, tiny

CFG = tiny("plain", num_steps=80, eval_every=20)


class _Stop(Exception):
  pass


def _stop_at(step):
  def progress(p):
    if p["step"] >= step:
      raise _Stop()
  return progress


def test_checkpoints_of_an_earlier_run_are_an_error_without_resume(tmp_path):
  # Before: orbax skipped every step up to the newest checkpoint, saved nothing,
  # and a later resume restored the earlier run.
  ckpt = str(tmp_path / "ckpt")
  prep = _blobs()
  fit_many(CFG, prep, [0], steps_per_call=20,
           callbacks=[Checkpointing(ckpt), Progress(lambda p: None)])
  with pytest.raises(ValueError, match=r"already holds checkpoints \(steps \[40, 60, "
                                       r"80\]\) of an earlier run; pass resume=True "
                                       r"to continue it"):
    fit_many(CFG, prep, [0], callbacks=[Checkpointing(ckpt)], steps_per_call=20)


def test_resume_with_other_steps_per_call_is_refused_and_ends_at_num_steps(tmp_path):
  ckpt = str(tmp_path / "ckpt")
  prep = _blobs()
  with pytest.raises(_Stop):
    fit_many(CFG, prep, [0], steps_per_call=20,
             callbacks=[Checkpointing(ckpt), Progress(_stop_at(20))])
  # Before: one call of 2 evals after the restored one, ending at step 60 of 80
  # (or past num_steps with other numbers).
  with pytest.raises(ValueError, match=r"evals_per_call \(checkpoint: 1, now: 2\)"):
    fit_many(CFG, prep, [0], callbacks=[Checkpointing(ckpt, resume=True)],
             steps_per_call=40)
  resumed_at = []
  out = fit_many(CFG, prep, [0], steps_per_call=20, callbacks=[
      Checkpointing(ckpt, resume=True, on_resume=resumed_at.append)])
  assert resumed_at == [20]
  np.testing.assert_array_equal(out[0].history["step"], [20, 40, 60, 80])


def test_resume_compares_the_callers_fingerprint_naming_every_field(tmp_path):
  ckpt = str(tmp_path / "ckpt")
  prep = _blobs()
  extra = {"experiment": {"data": {"missing_rate": 0.5, "mask_seed": 0}}}
  with pytest.raises(_Stop):
    fit_many(CFG, prep, [0], steps_per_call=20,
             callbacks=[Checkpointing(ckpt, extra=extra), Progress(_stop_at(20))])
  changed = {"experiment": {"data": {"missing_rate": 0.8, "mask_seed": 1}}}
  with pytest.raises(ValueError) as err:
    fit_many(CFG, prep, [0], steps_per_call=20,
             callbacks=[Checkpointing(ckpt, resume=True, extra=changed)])
  assert "experiment.data.missing_rate (checkpoint: 0.5, now: 0.8)" in str(err.value)
  assert "experiment.data.mask_seed (checkpoint: 0, now: 1)" in str(err.value)


def test_resume_without_anything_to_resume_says_so(tmp_path):
  # Checkpointing always has a directory: resuming without one cannot be asked.
  # An empty one: a warning, and training from step 0 to num_steps.
  empty = str(tmp_path / "empty")
  resumed_at = []
  with pytest.warns(UserWarning, match=re.escape(
      f"resume: no checkpoint in {empty}; training from step 0")):
    out = fit_many(CFG, _blobs(), [0], steps_per_call=20, callbacks=[
        Checkpointing(empty, resume=True, on_resume=resumed_at.append)])
  assert resumed_at == []
  np.testing.assert_array_equal(out[0].history["step"], [20, 40, 60, 80])


def test_differences_lists_every_field_with_both_values():
  saved = {"a": {"b": 1, "c": [1, 2]}, "d": "x", "gone": 1}
  now = {"a": {"b": 2, "c": [1, 2]}, "d": "y", "new": 0}
  assert ckpt_lib.differences(saved, now) == [
      "a.b (checkpoint: 1, now: 2)", "d (checkpoint: 'x', now: 'y')",
      "gone (only in the checkpoint)", "new (not in the checkpoint)"]


# The launcher: what defines a run is checked before any data is loaded.

def _tiny_config():
  config = digits_mcar.get_config()
  config.methods = ("zero",)
  config.seeds = (0,)
  config.train.hidden = (8,)
  config.train.num_steps = 40
  config.train.eval_every = 20
  config.steps_per_call = 20
  config.checkpoint_every_call = True
  return config


def test_launcher_resume_after_changing_the_data_fails_naming_them(tmp_path):
  workdir = str(tmp_path / "run")
  config = _tiny_config()
  first = experiment.run(config, workdir)
  assert resume.saved_methods(workdir) == {"zero": [20, 40]}
  changed = copy.deepcopy(config)
  changed.data.missing_rate = 0.8
  changed.data.mask_seed = 3
  # Before: exit 0, the old run's parameters scored on the new data.
  with pytest.raises(ValueError, match=r"data\.mask_seed.*data\.missing_rate"):
    experiment.run(changed, workdir, resume=True)
  with pytest.raises(ValueError, match=(
      r"config\.data\.mask_seed \(checkpoint: 0, now: 3\); "
      r"config\.data\.missing_rate \(checkpoint: 0\.5, now: 0\.8\)")):
    resume.check_checkpoints(changed, workdir, resume=True, overwrite=False)
  for field, value in (("placeholder", 0.5), ("scaling", "none"),
                       ("split.split_seed", 1), ("mask_seeds", (0,)),
                       ("steps_per_call", 40), ("train.learning_rate", 0.01)):
    other = copy.deepcopy(config)
    node, *rest = field.split(".")
    with other.unlocked():
      if rest:
        other[node][rest[0]] = value
      else:
        other[node] = value
    with pytest.raises(ValueError, match=rf"config\.{field} \(checkpoint"):
      resume.check_checkpoints(other, workdir, resume=True, overwrite=False)
  # The same config resumes (all methods finished: nothing left to train).
  again = experiment.run(config, workdir, resume=True)
  assert again["methods"]["zero"]["test"] == first["methods"]["zero"]["test"]


def test_launcher_checkpoint_checks_without_resume(tmp_path):
  workdir = str(tmp_path / "run")
  config = _tiny_config()
  with pytest.raises(ValueError, match="checkpoint_every_call"):
    resume.check_checkpoints(_with_no_checkpoints(config), workdir, resume=True,
                             overwrite=False)
  assert resume.check_checkpoints(config, workdir, resume=True,
                                  overwrite=False) == {}
  os.makedirs(resume.checkpoint_dir(workdir, "zero") + "/20")
  # K folds of unequal size: a method's checkpoints lie in one folder per group
  # of equal shapes (they were not seen, and --resume found "nothing to resume").
  os.makedirs(resume.checkpoint_dir(workdir, "gil") + "/shape_group_1/40")
  assert resume.saved_methods(workdir) == {"gil": [40], "zero": [20]}
  with pytest.raises(ValueError, match=r"earlier run \(gil up to step 40, zero up "
                                       r"to step 20\).*--resume.*--overwrite"):
    resume.check_checkpoints(config, workdir, resume=False, overwrite=False)
  assert resume.check_checkpoints(config, workdir, resume=False,
                                  overwrite=True) == {}
  assert not os.path.exists(resume.checkpoint_dir(workdir))


def _with_no_checkpoints(config):
  other = copy.deepcopy(config)
  other.checkpoint_every_call = False
  return other
