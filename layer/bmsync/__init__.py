"""bmsync: the WholeCell <-> Back Market integration (the shared package of every function)."""

__version__ = "0.1.0"
