"""Live VJ runtime and offline media generation for concert shows."""

__version__ = "0.1.0"
