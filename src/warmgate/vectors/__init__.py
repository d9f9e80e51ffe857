"""Vector indexes for the semantic cache (see `base.py`)."""
