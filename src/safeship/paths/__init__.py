"""Deploy paths (GitHub Actions, Railway's own build, CircleCI, this machine) and failover."""
