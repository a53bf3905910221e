"""NATS JetStream: subjects, streams, de-duplicated publishing and the worker loop."""
