"""The reference runs reproduce bit for bit (see ``tests/reference/runs.py``).

Each reference was recorded by ``python -m tests.reference.runs`` with the code
before a structural change; this reruns it with today's code, as a user would (the
launcher in a fresh process, the optimised compiler), and asserts that every
per-run metric, best step, history row and saved parameter array is identical.
XLA's CPU code depends on the processor: on a machine other than the recording one
the runs are not comparable bit for bit and the test says so instead of passing.
"""

import json

import pytest

from tests.reference import runs


@pytest.mark.parametrize("name", runs.NAMES)
def test_reference_run_reproduces_bit_for_bit(name, tmp_path):
  with open(runs.path_of(name)) as f:
    recorded = json.load(f)
  here = runs.machine()
  if here != recorded["machine"]:
    pytest.skip(f"reference {name!r} was recorded on {recorded['machine']}, this "
                f"machine is {here}: record it here with `python -m "
                f"tests.reference.runs {name}` on the code before a change")
  result = runs.run(name, str(tmp_path / name))
  for key in recorded["result"]:
    assert result[key] == recorded["result"][key], f"{name}: {key} differs"
  assert result == recorded["result"]
