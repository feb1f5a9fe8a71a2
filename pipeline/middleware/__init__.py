"""Our Dramatiq middleware, one per module."""
