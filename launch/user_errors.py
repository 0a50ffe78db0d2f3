"""User mistakes end a launcher with one line on stderr and exit code 2.

A bad flag, config value, path or data file is the user's to fix: a traceback or
the whole flag help hides the one line that says what is wrong.  The launchers run
their ``main`` through :func:`run` instead of ``absl.app.run``:

  if __name__ == "__main__":
    user_errors.run(main)

Errors that count as user mistakes: ``ValueError`` (the project's data and config
checks; ``gil_jax.data.DataFileNotFoundError`` is one), ``FileNotFoundError``,
``PermissionError``, ``NotADirectoryError``, ``IsADirectoryError``,
``FileExistsError``, ``FloatingPointError`` (training diverged: a setting, not a
bug), absl's ``app.UsageError`` and flag errors.  Anything else is a bug and keeps
its traceback.  ``GIL_TRACEBACK=1`` in the environment shows the traceback of user
errors too.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

from absl import app
from absl import flags

USER_ERRORS = (ValueError, FileNotFoundError, PermissionError, NotADirectoryError,
               IsADirectoryError, FileExistsError, FloatingPointError,
               app.UsageError, flags.Error)
EXIT_CODE = 2


def one_line(error: BaseException) -> str:
  """The error's message on one line (its lines joined), or its type's name."""
  text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
  return text or type(error).__name__


def fail(prog: str, error: BaseException) -> None:
  """Prints ``prog: error: MESSAGE`` to stderr and exits with :data:`EXIT_CODE`."""
  print(f"{prog}: error: {one_line(error)}", file=sys.stderr, flush=True)
  sys.exit(EXIT_CODE)


def _prog() -> str:
  main = sys.modules.get("__main__")
  spec = getattr(main, "__spec__", None)
  return spec.name if spec is not None else os.path.basename(sys.argv[0])


def run(main: Callable[[list[str]], None]) -> None:
  """``absl.app.run(main)``, with user mistakes (flags included) as one line."""
  prog = _prog()
  debug = os.environ.get("GIL_TRACEBACK", "") not in ("", "0")

  def parse_flags(argv: list[str]) -> list[str]:
    try:
      return flags.FLAGS(argv)
    except USER_ERRORS as e:      # a config file's own checks raise ValueError
      if debug:
        raise
      fail(prog, e)
    except (AttributeError, KeyError) as e:   # ml_collections: --config.NO_SUCH=1
      if debug:
        raise
      # A KeyError's str() is the repr of its message (quotes, escapes): take the
      # message itself.
      message = e.args[0] if isinstance(e, KeyError) and e.args else e
      fail(prog, ValueError(f"a --config override names no config field: "
                            f"{message}"))

  def guarded(argv: list[str]):
    try:
      return main(argv)           # its exit status (absl exits with it)
    except USER_ERRORS as e:
      if debug:
        raise
      fail(prog, e)

  app.run(guarded, flags_parser=parse_flags)
