"""``config.grid``: one launcher config and workdir per setting of a config field."""

from __future__ import annotations

import copy
import os


def grid_settings(config, workdir: str) -> list:
  """``[(config, workdir)]``: one per value of ``config.grid``, or the config."""
  field, values = config.grid.field, tuple(config.grid.settings)
  if values and not field:
    raise ValueError("config.grid.settings is set but config.grid.field is empty")
  if not values:      # no grid (e.g. --config.grid.settings='()' for one setting)
    return [(config, workdir)]
  *parents, leaf = field.split(".")
  out = []
  for value in values:
    cfg = copy.deepcopy(config)
    node = cfg
    for part in parents:
      node = node[part]
    if leaf not in node:
      raise ValueError(f"config.grid.field {field!r} names no config field")
    with cfg.unlocked():
      node[leaf] = value
      cfg.grid.field, cfg.grid.settings = "", ()
    out.append((cfg, os.path.join(workdir, f"{leaf}_{value}")))
  return out
