"""The sections of `make bench` (benchmarks/bench.py): each measures one thing against its baseline."""
