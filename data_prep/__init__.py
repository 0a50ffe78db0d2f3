"""Dataset builders and loaders: local files -> arrays with NaN for missing values."""
