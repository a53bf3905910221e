"""Shared runtime of the Tuneloop services: settings, errors, gRPC and NATS helpers, the
job registry and the artifact store. Services import this and the generated contracts
(`tuneloop.*`), never each other."""
