"""The WholeCell API emulator (see README.md)."""
