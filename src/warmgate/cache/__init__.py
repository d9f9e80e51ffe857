"""The response cache: keys (canonical, versioned) and the effective per-request policy."""
