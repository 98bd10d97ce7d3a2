"""The coordinator: one build per platform, then a multi-arch index under every tag."""

__version__ = "0.1.0"
"""Kept equal to pyproject's version (a unit test checks); read without importlib.metadata,
which costs more than the rest of `multiarch --version`."""
