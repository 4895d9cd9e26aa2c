"""The promptkit version, defined once (read by setuptools and stamped into every asset)."""

__version__ = "0.1.0"
