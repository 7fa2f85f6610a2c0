"""Generated protobuf messages of service.v1."""
