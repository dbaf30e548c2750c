"""Everything that drives the core without being a node: the simulator, benchmarks, live campaigns, conform."""
