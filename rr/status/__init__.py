"""Health, readiness and jobs endpoints for probes, and the ``status.*`` RPC."""
