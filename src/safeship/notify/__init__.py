"""Notifications: the Notifier port (``base``: what the event bus delivers to, built from
``[github]`` and ``[notify.*]`` through the plugin registry), GitHub deployments and statuses
(in-process deploys and remote path runs), Slack alerts, and the GitHub issue an emergency
deploy opens."""
