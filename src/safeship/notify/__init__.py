"""Notifications: GitHub deployments and statuses (in-process deploys and remote path runs),
Slack alerts, and the GitHub issue an emergency deploy opens."""
