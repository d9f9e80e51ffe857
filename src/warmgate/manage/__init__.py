"""Run-time management: caching configurations, gateways and assignments (issue 6).

    model.py         the state and its rules (pure)
    store.py         the `AdminStore` Protocol, the SQLite store and the factory
    store_redis.py   the shared Redis store (optional dependency)
    service.py       `Management`: atomic changes, polling for others' changes, layer swaps
    api.py           the HTTP routes under /admin/ (JSON) and the OpenAPI document (openapi.py)
    cli.py           `warmgate cache-config ...` and `warmgate config effective ...`
"""
