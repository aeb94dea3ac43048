"""A deterministic simulation of bmsync: the real handlers, store and clients against both emulators,
driven by a ManualClock and a seeded traffic model (``bmsync simulate``; docs/simulator.md)."""
