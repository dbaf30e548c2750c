"""`python -m raftzmq ...` is the same as `raftzmq ...`."""
from raftzmq.cli import main

main()
