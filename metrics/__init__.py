"""Herald's observability: Prometheus metrics, the /metrics and /healthz server, dashboards.

Installed as the package ``herald.metrics``; import it as ``from herald.metrics import registry``.
"""
