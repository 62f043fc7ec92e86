"""Parsing: from raw report bytes to observations (extraction, labels, dates, formats)."""
