"""The web console: static pages served by the gateway that drive the public API."""
