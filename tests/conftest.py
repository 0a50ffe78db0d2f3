"""Test set-up: the repository root on sys.path; 4 simulated CPU devices.

The device count must be fixed before JAX initialises its backends, so it is set here,
before any test module imports JAX code.  Tests that use one device are unaffected
(computations go to device 0); the sharding tests use all four.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)
