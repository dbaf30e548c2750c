"""Evidence: the JSON-lines logs every process writes, and what is computed from them.

Imports nothing else from raftzmq. Schema: docs/log-schema.md. Client histories and their linearizability:
history.py, lincheck.py, linview.py (docs/history-format.md).
"""
from .checker import INVARIANTS, Checker, CheckResult, Violation, check_run, render_summary, run_check
from .history import History, HistoryError, Operation, parse_history, read_history
from .lincheck import LinResult, Window, check_history
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
    "History",
    "HistoryError",
    "Operation",
    "parse_history",
    "read_history",
    "LinResult",
    "Window",
    "check_history",
]
