"""Launcher logs without the checkpointing libraries' INFO lines.

orbax logs ~100 INFO lines a run (every save, every restore) through absl logging,
which the launchers set to INFO for their own progress lines; TensorStore and etils
add more; JAX logs at INFO that it found no TPU.  Their warnings and errors
still pass.
"""

from __future__ import annotations

import logging as py_logging
import os

from absl import logging

_SOURCES = tuple(f"{os.sep}{name}{os.sep}" for name in ("orbax", "etils", "tensorstore"))


class DropLibraryInfo(py_logging.Filter):
  """Drops records below WARNING whose source file lies in one of :data:`_SOURCES`."""

  def filter(self, record: py_logging.LogRecord) -> bool:
    return (record.levelno >= py_logging.WARNING
            or not any(s in record.pathname for s in _SOURCES))


def quiet_libraries() -> None:
  """Installs :class:`DropLibraryInfo` on absl's handler (once)."""
  handler = logging.get_absl_handler()
  if not any(isinstance(f, DropLibraryInfo) for f in handler.filters):
    handler.addFilter(DropLibraryInfo())
  for name in ("orbax", "tensorstore", "etils"):
    py_logging.getLogger(name).setLevel(py_logging.WARNING)
  # JAX's INFO "Unable to initialize backend 'tpu'" on every machine without one.
  py_logging.getLogger("jax._src.xla_bridge").setLevel(py_logging.WARNING)
