"""A ring replay buffer of per-sample transitions, held in device arrays.

Pure functions over a :class:`ReplayBuffer` pytree, so the buffer lives inside a
jitted ``lax.scan`` with no host round trip.  ``add`` writes a batch of items at the
write pointer, wrapping around; ``sample`` draws uniformly among filled slots only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class ReplayBuffer(NamedTuple):
  data: Any          # pytree of arrays [capacity, ...]
  ptr: jax.Array     # int32 scalar: next slot to write
  size: jax.Array    # int32 scalar: number of filled slots (<= capacity)


def init(example_item: Any, capacity: int) -> ReplayBuffer:
  """An empty buffer for items shaped like ``example_item`` (one transition, no batch)."""
  if capacity < 1:
    raise ValueError(f"replay capacity must be >= 1, got {capacity}")
  data = jax.tree.map(
      lambda v: jnp.zeros((capacity,) + jnp.shape(v), jnp.asarray(v).dtype),
      example_item)
  return ReplayBuffer(data=data, ptr=jnp.zeros((), jnp.int32),
                      size=jnp.zeros((), jnp.int32))


def capacity(buffer: ReplayBuffer) -> int:
  return jax.tree.leaves(buffer.data)[0].shape[0]


def add(buffer: ReplayBuffer, items: Any, valid: jax.Array | None = None
        ) -> ReplayBuffer:
  """Writes a batch of items (leading axis ``n``) at the pointer, wrapping around.

  Args:
    buffer: the buffer.
    items: pytree of arrays ``[n, ...]``.
    valid: optional bool ``[n]``; invalid items (e.g. padded time steps) are skipped,
      and the valid ones are written contiguously.

  Returns:
    The updated buffer.
  """
  cap = capacity(buffer)
  n = jax.tree.leaves(items)[0].shape[0]
  if valid is None:
    offsets = jnp.arange(n, dtype=jnp.int32)
    count = jnp.asarray(n, jnp.int32)
    slots = (buffer.ptr + offsets) % cap
  else:
    offsets = jnp.cumsum(valid.astype(jnp.int32)) - 1
    count = valid.astype(jnp.int32).sum()
    # Invalid items are sent to an out-of-range slot and dropped by the scatter.
    slots = jnp.where(valid, (buffer.ptr + offsets) % cap, cap)
  if n > cap:
    # Only the last `cap` items can survive; drop earlier ones so that no two
    # writes in one scatter hit the same slot (scatter order is unspecified).
    keep = offsets >= count - cap
    slots = jnp.where(keep, slots, cap)
  data = jax.tree.map(lambda d, v: d.at[slots].set(v.astype(d.dtype), mode="drop"),
                      buffer.data, items)
  return ReplayBuffer(data=data, ptr=(buffer.ptr + count) % cap,
                      size=jnp.minimum(buffer.size + count, cap))


def sample(buffer: ReplayBuffer, key: jax.Array, batch_size: int) -> Any:
  """``batch_size`` items drawn uniformly (with replacement) among filled slots.

  The buffer must hold at least one item; callers add before they sample.
  """
  idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
  return jax.tree.map(lambda d: d[idx], buffer.data)
