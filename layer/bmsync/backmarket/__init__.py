"""Back Market seller API: the client (:class:`BackMarketClient`), its models, errors and rate limiter."""

from bmsync.backmarket.client import BackMarketClient, client_for

__all__ = ["BackMarketClient", "client_for"]
