"""gRPC plugin: PHP gRPC services (spiral/roadrunner-grpc) behind a grpcio server."""
