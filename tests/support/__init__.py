"""Reusable pytest fixtures for real loopback services (SMTP, Slack webhook, S3, PostgreSQL, MLflow)."""
