"""Pytest fixtures; see module docstring."""
