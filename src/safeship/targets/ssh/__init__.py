"""The ssh target: releases on a fleet of hosts over SSH (docs/fleet.md)."""
