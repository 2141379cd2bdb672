"""What both ports answer a request head that breaks serving's limits, in one wording: the traffic
port (``header_deadline.py``) and the probe port (``probe_listener.py``) each said it their own way,
one naming the setting and the other not. 431: over ``serving.max_header_bytes``; 408: not received
within ``serving.header_timeout_s``."""

from __future__ import annotations

HEAD = "request line and headers"


def too_large(max_bytes: int, chunked: bool = False) -> str:
    """The 431's message. ``chunked``: the traffic port counts a chunked body's framing and
    trailers against the same cap (the probe port takes no body)."""
    counted = f"{HEAD} (and chunked framing and trailers)" if chunked else HEAD
    return f"{counted} over {max_bytes} bytes (serving.max_header_bytes): send less"


def too_slow(timeout_s: float) -> str:
    """The 408's message, of a head begun and not finished in time."""
    return f"{HEAD} not received within {timeout_s:g} s (serving.header_timeout_s)"
