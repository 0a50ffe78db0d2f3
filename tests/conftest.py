"""Test set-up: the repository root on sys.path; 4 simulated CPU devices; XLA's
backend optimisations off (compile time, see below).

The device count must be fixed before JAX initialises its backends, so it is set here,
before any test module imports JAX code.  Tests that use one device are unaffected
(computations go to device 0); the sharding tests use all four.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Tests run tiny shapes, so XLA's compile time dominates: without its backend
# optimisations it compiles about twice as fast (same HLO, so the same FLOP counts;
# measured on tests/test_train.py + test_parallel.py: 257 s of CPU against 437 s).
# Set before JAX starts, in the environment, so that launcher subprocesses inherit
# it; JAX_DISABLE_MOST_OPTIMIZATIONS=false runs the suite fully optimised.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "true")

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)


import gc  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
  """Drops JAX's compiled programs after each test module.

  Every compiled CPU program holds memory mappings for its machine code; the whole
  suite in one process compiles thousands of programs and used to pass the kernel's
  limit of 65,530 mappings per process (``vm.max_map_count``), after which XLA's
  compiler segfaulted or aborted at random (measured: ``tests/test_train.py``'s
  end-to-end tests alone add ~8,000 mappings; clearing the caches brings a process
  back to ~1,600).
  """
  yield
  jax.clear_caches()
  gc.collect()
