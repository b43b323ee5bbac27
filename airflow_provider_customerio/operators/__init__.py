"""Operators of the provider: thin wrappers that build hooks and ports and delegate to ``sync/``."""
