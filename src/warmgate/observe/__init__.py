"""Observability: per-request accounting into metrics, a time series for the dashboard, and the
JSON access log. `Observer.done` is called once per request by the edge (both the fast path and
the ASGI path)."""
