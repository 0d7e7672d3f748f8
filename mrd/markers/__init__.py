"""Marker callers: one module per marker kind, each turning alignment evidence into counts."""
