"""Test set-up: the repository root on sys.path; 4 simulated CPU devices; XLA's
backend optimisations off (compile time, see below).

The device count must be fixed before JAX initialises its backends, so it is set here,
before any test module imports JAX code.  Tests that use one device are unaffected
(computations go to device 0); the sharding tests use all four.
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Tests run tiny shapes, so XLA's compile time dominates: without its backend
# optimisations it compiles about twice as fast (same HLO, so the same FLOP counts).
# Set before JAX starts, in the environment, so that launcher subprocesses inherit
# it; JAX_DISABLE_MOST_OPTIMIZATIONS=false runs the suite fully optimised.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "true")
# One persistent compilation cache for the whole run (every xdist worker and every
# launcher subprocess): many tests compile the same programs (the digits launcher
# configs, the sweep's tasks and their one-process grid).  A cached executable is
# the compiled code itself, so numbers do not change; a fresh run starts empty.
_run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(
    tempfile.gettempdir(), f"gil_jax_test_xla_cache_{_run_id}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)


import gc  # noqa: E402

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Property-based tests: few examples in the suite (ci, the default), many for a
# local run (HYPOTHESIS_PROFILE=dev).
settings.register_profile("ci", max_examples=8, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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


# The slowest files first: pytest-xdist hands out whole files (--dist loadfile) in
# collection order, so a slow file collected last would run alone at the end while
# the other worker idles.
_SLOW_FIRST = ("test_reference_runs.py", "test_launch.py", "test_bench.py",
               "test_sweep.py", "test_docs_code.py", "test_launch_methods.py",
               "test_packaging.py")


def pytest_collection_modifyitems(config, items):
  del config
  rank = {name: i for i, name in enumerate(_SLOW_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
