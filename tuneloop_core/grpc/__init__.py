"""gRPC helpers shared by every service: server, error interceptor, clients."""
