"""I/O behind small interfaces: artifact store (local/S3), sources, MLflow tracking and registry, model files."""
