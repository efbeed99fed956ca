"""Deployment analytics: the DORA measures, the architecture's success metrics (§9) and the
failure patterns, computed from the registry for one environment (or all) over a period.

- :mod:`safeship.analytics.records`: what the computations give (``Measure``, ``SeriesPoint``,
  ``AnalyticsReport``), re-exported by ``safeship.core``;
- :mod:`safeship.analytics.bands`: dora.dev's performance bands;
- :mod:`safeship.analytics.dora`, :mod:`.success`, :mod:`.patterns`: pure computations over
  the registry's analytics rows (``safeship.registry.analytics_queries``);
- :mod:`safeship.analytics.leadtime`: the commits a deploy shipped, from git;
- :mod:`safeship.analytics.compute`: reads the registry and puts the report together;
- :mod:`safeship.analytics.settings`: the ``[analytics]`` table.

Importing this package imports none of them (the config models import only the settings).
See docs/analytics.md for each definition and query.
"""
