"""Benchmarks (`raftzmq bench ...`) and the Raft paper's Figure 16: what they run, measure and draw."""
