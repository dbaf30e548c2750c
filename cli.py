"""Thin shim: `python cli.py ...` is the same as `raftzmq ...`."""
from raftzmq.cli import main

if __name__ == "__main__":
    main()
