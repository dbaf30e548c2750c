"""`python -m raftzmq.runtime.node ...`: run one node process (runtime/node/process.py has the arguments)."""
import sys

from .process import main

sys.exit(main())
