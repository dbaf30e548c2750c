"""Evidence: the JSON-lines logs every process writes, and what is computed from them.

Imports nothing else from raftzmq. Schema: docs/log-schema.md.
"""
from .checker import INVARIANTS, Checker, CheckResult, Violation, check_run, render_summary, run_check
from .logfile import (
    Located,
    LogFormatError,
    LogTail,
    LogWriter,
    TornLineWarning,
    iter_records,
    read_run,
    validate_record,
)

__all__ = [
    "INVARIANTS",
    "Checker",
    "CheckResult",
    "Violation",
    "check_run",
    "render_summary",
    "run_check",
    "Located",
    "LogFormatError",
    "LogTail",
    "LogWriter",
    "TornLineWarning",
    "iter_records",
    "read_run",
    "validate_record",
]
