"""Errors shared by the supervisor and the modules it uses."""
from __future__ import annotations

__all__ = ["SupervisorError"]


class SupervisorError(Exception):
    """A request or a start that cannot be honoured; the message says why."""
