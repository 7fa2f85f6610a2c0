"""Prometheus metrics: the endpoint, RoadRunner's built-in series and user collectors."""
