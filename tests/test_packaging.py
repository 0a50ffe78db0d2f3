"""pyproject.toml installs every top-level package with the pinned requirements."""

import os
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_pyproject_packages_every_importable_folder_and_pins_requirements():
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    project = tomllib.load(f)
  include = project["tool"]["setuptools"]["packages"]["find"]["include"]
  packages = sorted(d for d in os.listdir(ROOT)
                    if os.path.isfile(os.path.join(ROOT, d, "__init__.py"))
                    and d != "tests")
  assert packages == ["data_prep", "gil_jax", "launch"]
  for package in packages:                       # and their subpackages
    assert package in include and f"{package}.*" in include
  assert project["project"]["dynamic"] == ["dependencies"]
  assert project["tool"]["setuptools"]["dynamic"]["dependencies"] == {
      "file": ["requirements.txt"]}
  with open(os.path.join(ROOT, "requirements.txt")) as f:
    pins = [line.split("#")[0].strip() for line in f]
  # setuptools reads the file as plain requirement lines: no pip options.
  assert all("==" in p for p in pins if p) and not any(p.startswith("-") for p in pins)
