"""absl-flag entry points (train, bench) and experiment configs."""
