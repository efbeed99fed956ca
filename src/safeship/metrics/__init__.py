"""Metrics: what safeship exposes to Prometheus and what it reads from it.

- :mod:`safeship.metrics.promql`: the PromQL templates (light: the config models read them);
- :mod:`safeship.metrics.router`: the builtin router's exposition, written from its own
  counters at scrape time;
- :mod:`safeship.metrics.deployments`: deployments, rollbacks and their durations, read
  through the core API at scrape time;
- :mod:`safeship.metrics.prometheus`: Prometheus as a MetricSource (the ``prometheus``
  adapter of ``safeship.metric_sources``).

Importing this package imports none of them: prometheus_client and httpx are paid for only by
what uses them.
"""
