"""Benchmarks for lossledger: a realistic report corpus (:mod:`bench.corpus`) and the harness
that times the pipeline on it (:mod:`bench.run`, ``make bench``)."""
