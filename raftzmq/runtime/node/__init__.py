"""Inside one node process: the embedding of the core, sockets, disk, clock, and the faults a node applies."""
