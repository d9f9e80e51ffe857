"""Response-cache stores behind one small async Protocol (see `base`)."""
