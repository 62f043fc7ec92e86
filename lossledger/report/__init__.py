"""Reporting: human-readable accounts of runs and of the published series."""
