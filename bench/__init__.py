"""Benchmarks (``make bench``): figures against same-run references, written to BENCHMARKS.md."""
