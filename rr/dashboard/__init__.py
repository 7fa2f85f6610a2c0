"""The web dashboard: pipelines, dead letters, worker pools, HTTP and cron at a glance."""
