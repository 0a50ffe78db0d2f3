"""Replay buffer: wrap-around, sampling only filled slots, skipped invalid items."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gil_jax.sources.policy import replay


def _items(start, n):
  v = jnp.arange(start, start + n, dtype=jnp.float32)
  return {"s": jnp.stack([v, -v], 1), "r": v}


def test_add_writes_in_order_and_wraps_around():
  buf = replay.init({"s": jnp.zeros(2), "r": jnp.zeros(())}, capacity=5)
  buf = replay.add(buf, _items(0, 3))
  assert int(buf.size) == 3 and int(buf.ptr) == 3
  buf = replay.add(buf, _items(3, 4))            # 3,4 -> slots 3,4; 5,6 -> slots 0,1
  assert int(buf.size) == 5 and int(buf.ptr) == 2
  np.testing.assert_array_equal(buf.data["r"], [5, 6, 2, 3, 4])
  np.testing.assert_array_equal(buf.data["s"][:, 1], -buf.data["r"])


def test_add_more_items_than_capacity_keeps_the_last_ones():
  buf = replay.init({"s": jnp.zeros(2), "r": jnp.zeros(())}, capacity=4)
  buf = replay.add(buf, _items(0, 10))
  assert int(buf.size) == 4 and int(buf.ptr) == 2
  assert sorted(np.asarray(buf.data["r"]).tolist()) == [6, 7, 8, 9]


def test_sample_draws_only_filled_slots():
  buf = replay.init({"s": jnp.zeros(2), "r": jnp.zeros(())}, capacity=100)
  buf = replay.add(buf, _items(1, 3))             # slots 0..2 hold 1, 2, 3
  batch = jax.jit(replay.sample, static_argnums=2)(buf, jax.random.key(0), 2000)
  values = set(np.asarray(batch["r"]).tolist())
  assert values == {1.0, 2.0, 3.0}               # never an empty (zero) slot


def test_invalid_items_are_skipped_and_valid_ones_packed():
  buf = replay.init({"s": jnp.zeros(2), "r": jnp.zeros(())}, capacity=6)
  valid = jnp.array([True, False, True, False, True])
  buf = replay.add(buf, _items(10, 5), valid=valid)
  assert int(buf.size) == 3 and int(buf.ptr) == 3
  np.testing.assert_array_equal(buf.data["r"][:3], [10, 12, 14])
  np.testing.assert_array_equal(buf.data["r"][3:], 0)


def test_capacity_must_be_positive():
  with pytest.raises(ValueError, match="capacity"):
    replay.init({"r": jnp.zeros(())}, capacity=0)
