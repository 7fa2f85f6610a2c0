"""rr: a RoadRunner-compatible PHP application server."""

# The RoadRunner API version we are compatible with; tools such as Laravel Octane
# gate on it (they require >= 2023.3.0), and workers receive it as RR_VERSION.
__version__ = "2025.1.15"
