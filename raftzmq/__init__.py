"""raftzmq: a testbed to watch and break Raft leader election on real processes."""
__version__ = "0.1.0"
