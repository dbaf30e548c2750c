"""Milliseconds and seconds: configs, flags and the network model speak milliseconds; the core and clocks speak
seconds. The one place where one becomes the other."""
from __future__ import annotations

__all__ = ["ms_to_s", "s_to_ms"]


def ms_to_s(ms: float) -> float:
    return ms / 1000.0


def s_to_ms(s: float) -> float:
    return s * 1000.0
