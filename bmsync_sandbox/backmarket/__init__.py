"""An emulator of Back Market's seller API (see README.md)."""
