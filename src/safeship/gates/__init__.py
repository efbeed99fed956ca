"""Production gates: the checks around a deployment's release (see docs/gates.md)."""
