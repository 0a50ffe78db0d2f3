"""Every ``python`` code block of the README and of docs/ runs.

A fenced block whose info string is exactly ``python`` claims to run: each one, from
README.md and docs/**/*.md (docs/notes.md excepted: it is a log), is executed as a
script in a fresh interpreter, from the repository root with the root on
``PYTHONPATH`` and ``JAX_PLATFORMS=cpu``, and must exit with status 0. Fragments and
illustrations use another info string (``text``); shell commands stay ``bash``.
The test ids name the block by file and the line of its opening fence
(``docs/usage.md:24``).

The README's quick-start table is also checked against the committed results file
it quotes.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXCLUDED = {"docs/notes.md"}
# A code fence (CommonMark): up to 3 spaces, then >= 3 backticks or tildes.
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
BLOCK_TIMEOUT_S = 600


def markdown_files() -> list[pathlib.Path]:
  files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
  return [f for f in files if f.relative_to(ROOT).as_posix() not in EXCLUDED]


def code_blocks(text: str) -> list[tuple[int, str, str]]:
  """``(line of the opening fence, info string, code)`` for each fenced block."""
  blocks = []
  lines = text.splitlines()
  i = 0
  while i < len(lines):
    match = FENCE.match(lines[i])
    if not match:
      i += 1
      continue
    fence, info = match.group(1), match.group(2).strip()
    start, body = i + 1, []
    i += 1
    while i < len(lines):
      close = FENCE.match(lines[i])
      if (close and close.group(1)[0] == fence[0] and len(close.group(1)) >= len(fence)
          and not close.group(2).strip()):
        break
      body.append(lines[i])
      i += 1
    blocks.append((start, info, "\n".join(body) + "\n"))
    i += 1                      # past the closing fence (or the end of the file)
  return blocks


def python_blocks() -> list[tuple[str, str]]:
  """``(id, code)`` of every block whose info string is exactly ``python``."""
  found = []
  for path in markdown_files():
    name = path.relative_to(ROOT).as_posix()
    for line, info, code in code_blocks(path.read_text(encoding="utf-8")):
      if info == "python":
        # Blank lines first: a traceback's line numbers are the markdown file's.
        found.append((f"{name}:{line}", "\n" * line + code))
  return found


def run_block(code: str) -> subprocess.CompletedProcess:
  """Runs ``code`` as a script in a fresh interpreter at the repository root."""
  env = dict(os.environ)
  env["JAX_PLATFORMS"] = "cpu"
  # As a reader runs them: with XLA's optimisations (tests/conftest.py turns most
  # off for the suite's tiny shapes; these blocks train for real and run ~2x faster).
  env.pop("JAX_DISABLE_MOST_OPTIMIZATIONS", None)
  env["PYTHONPATH"] = os.pathsep.join(
      [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
  return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)


BLOCKS = python_blocks()


@pytest.mark.parametrize("code", [c for _, c in BLOCKS], ids=[i for i, _ in BLOCKS])
def test_python_block_runs(code):
  proc = run_block(code)
  status = proc.returncode
  assert status == 0, (
      f"exit code {status}\n--- stdout ---\n{proc.stdout[-3000:]}"
      f"\n--- stderr ---\n{proc.stderr[-5000:]}")


def test_a_raising_block_fails():
  """The runner sees an exception as a failure (not only a syntax error)."""
  assert run_block("import jax\nraise ValueError('broken example')\n").returncode != 0


def test_fences_are_parsed_as_commonmark():
  text = ("intro\n```python\nprint(1)\n```\n"
          "````text\n```python\nnot a block\n```\n````\n"
          "~~~python\nprint(2)\n~~~\n```python3\nprint(3)\n```\n")
  blocks = code_blocks(text)
  assert [(line, info) for line, info, _ in blocks] == [
      (2, "python"), (5, "text"), (10, "python"), (13, "python3")]
  assert blocks[0][2] == "print(1)\n"
  assert blocks[1][2] == "```python\nnot a block\n```\n"


def test_docs_have_python_blocks_outside_the_log():
  ids = [i for i, _ in BLOCKS]
  assert ids, "no python block found: the extraction is broken"
  assert not any(i.startswith("docs/notes.md:") for i in ids)


def test_readme_quick_start_table_is_the_committed_results():
  """The table the README quotes is what the launcher prints from the JSON."""
  from launch import results as results_lib
  with open(ROOT / "docs/results/quickstart_digits.json") as f:
    results = json.load(f)
  readme = (ROOT / "README.md").read_text(encoding="utf-8")
  assert results_lib.format_table(results) in readme
  runs = results["runs"]
  header = (f"{results['dataset']} (runs/digits_mcar): test metrics (%) of the "
            f"best-on-validation parameters, mean +/- std over {len(runs)} runs "
            f"({', '.join(sorted(runs[0]))})")
  assert header in readme
