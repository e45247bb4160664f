"""Helpers for developers and for tests of third-party code built on sparserec."""
