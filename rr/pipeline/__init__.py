"""The pipeline core: jobs, the driver contract, the priority queue and the dispatcher."""
