"""Shared fixtures: real loopback services come from tests/support/fixtures.py."""

pytest_plugins = ["tests.support.fixtures"]
