"""An example safeship plugin: a target, a check and a notifier (see docs/plugins.md)."""
