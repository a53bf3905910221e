"""Bounds, defaults and checks of the typed job specs (`*JobSpec` in proto/), one module per
job kind, so the gateway and the worker of a kind check a spec with the same rules."""
