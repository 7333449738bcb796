"""Embedded OpenAlgo-compatible broker simulator (public API below; filled in as parts land)."""
