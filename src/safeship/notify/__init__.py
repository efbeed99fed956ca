"""Notifications: where a deployment's outcome is reported (GitHub deployments so far)."""
