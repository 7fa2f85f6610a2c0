"""Jobs: pipelines, the priority queue, pollers, the jobs RPC and cron triggers."""
