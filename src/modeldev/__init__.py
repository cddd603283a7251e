"""modeldev: baselines across frameworks, then tuning of the best, tracked in MLflow."""

__version__ = "0.1.0"
