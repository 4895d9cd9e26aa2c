"""promptkit.registry: the versioned, verifiable store of prompt assets."""
