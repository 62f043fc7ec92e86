"""Storing: the append-only, hash-chained event log (one module per backend) and ingest."""
