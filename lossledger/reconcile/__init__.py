"""Reconciling: one series from many disagreeing sources, with the evidence."""
