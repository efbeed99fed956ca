"""The alerts core: events become alerts (conditions), routed to channels, written to the
registry's outbox, grouped and delivered in the background. See docs/observability.md."""
