"""Embedders: turn the text a semantic lookup compares into unit vectors (see `base.py`)."""
