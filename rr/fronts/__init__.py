"""A plugin's front in several processes (``http.processes``, ``grpc.processes``): rr keeps
the listening sockets and the one place of truth, the fronts serve (docs/scaling.md)."""
