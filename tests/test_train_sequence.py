"""GIL for sequences (LSTM) and GIL-D, end to end on small problems."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gil_jax.data import RawSequences, prepare_sequences, validate_sequences
from gil_jax.training.fit import fit
from gil_jax.training.step import make_trainer

from test_train import _blobs, tiny


def seq(source="gil", **overrides):
  """The tiny LSTM config of ``source``."""
  return tiny(source, **{**dict(model="lstm", hidden=(16,), num_steps=100,
                                eval_every=20, learning_rate=1e-2,
                                replay_capacity=2048, selection_metric="auroc"),
                         **overrides})


SEQ = seq()


def _sequences(n=300, t=6, d=3, missing=0.4, seed=0):
  rng = np.random.default_rng(seed)
  y = (np.arange(n) % 2).astype(np.int32)
  x = rng.normal(0, 1, (n, t, d)) + 1.0 * y[:, None, None]
  length = rng.integers(2, t + 1, n).astype(np.int32)
  x[rng.random(x.shape) < missing] = np.nan
  x[np.arange(t)[None, :] >= length[:, None]] = 7e3      # padding garbage
  return RawSequences(x=x.astype(np.float32), y=y, length=length, num_classes=2,
                      feature_names=("a", "b", "c"), name="toy")


@pytest.mark.parametrize("source", ["gil", "gil_d", "mask", "plain", "gil_l2rw",
                                    "gil_meta"])
def test_lstm_sources_train_end_to_end(source):
  prep = prepare_sequences(_sequences(), val_fraction=0.2, test_fraction=0.2)
  r = fit(seq(source), prep, seed=0)
  assert np.isfinite(r.history["loss"]).all()
  assert r.test["auroc"] > 0.8, r.test


def test_gil_lstm_stores_only_real_steps_in_replay():
  prep = prepare_sequences(_sequences(), val_fraction=0.2, test_fraction=0.2)
  cfg = seq("gil", num_steps=2, eval_every=1)
  trainer = make_trainer(cfg, 3, 2)
  train = jax.tree.map(jnp.asarray, prep.train)
  val = jax.tree.map(jnp.asarray, prep.val)
  state = trainer.init(jax.random.key(0), train)
  first = np.asarray(state.batch_idx)
  state, _ = trainer.run(state, train, val, num_evals=1)
  assert int(state.source.replay.size) == 0        # step 0's transition is pending
  state, _ = trainer.run(state, train, val, num_evals=1)
  assert int(state.source.replay.size) == int(prep.train.length[first].sum())


def test_gil_d_trains_mlp_on_balanced_batches():
  prep = _blobs()
  r = fit(tiny("gil_d"), prep, seed=0)
  assert r.test["auroc"] > 0.85 and np.isfinite(r.history["reward"]).all()


def test_lstm_rejects_tabular_data_and_gil_d_odd_batches():
  with pytest.raises(ValueError, match="sequences with lengths"):
    fit(SEQ, _blobs(), seed=0)
  with pytest.raises(ValueError, match="divisible by 4"):
    tiny("gil_d", batch_size=30)


def test_bad_sequences_are_rejected_with_a_named_problem():
  raw = _sequences(n=20)
  with pytest.raises(ValueError, match="length < 1"):
    validate_sequences(raw._replace(length=np.where(np.arange(20) == 3, 0,
                                                    raw.length).astype(np.int32)))
  with pytest.raises(ValueError, match="exceed the padded axis"):
    validate_sequences(raw._replace(length=np.full(20, 9, np.int32)))
  with pytest.raises(ValueError, match="disagrees with the NaNs"):
    validate_sequences(raw, m=np.ones(raw.x.shape))
  with pytest.raises(ValueError, match="rank 3"):
    validate_sequences(raw._replace(x=raw.x[:, 0]))


P12_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "..", "shared", "data", "physionet2012")


@pytest.mark.skipif(not os.path.isdir(P12_DIR),
                    reason="../shared/data/physionet2012 absent")
def test_physionet_sequences_prepare_with_observed_statistics(tmp_path):
  from data_prep.physionet2012 import load_sequences
  raw = load_sequences(data_dir=str(tmp_path))
  assert raw.x.shape == (4000, 48, 35) and raw.num_classes == 2
  prep = prepare_sequences(raw, split_seed=0)
  assert prep.summary["rows"] == {"train": 3200, "val": 400, "test": 400}
  obs = prep.train.m > 0
  np.testing.assert_allclose(prep.train.x[obs].mean(), 0.0, atol=1e-3)
  assert abs(prep.summary["positive_rate"]["test"] - 0.1385) < 0.01
