"""Notifications: the Notifier port (``base``: one alert channel, which the alerts core in
``safeship.alerts`` builds from ``[notify.*]`` through the plugin registry), the console
channel, GitHub deployments and statuses (in-process deploys and remote path runs: an event
sink wired directly, not a channel), Slack alerts, and the GitHub issue an emergency deploy
opens."""
