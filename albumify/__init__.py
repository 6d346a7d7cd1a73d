"""Albumify: not everything can be an album cover."""

__version__ = "0.1.0"

CAPTION = "not everything can be an album cover"
