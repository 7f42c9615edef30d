"""Diagnostics: structlog over stdlib logging. The library only logs; the CLI configures output."""

from __future__ import annotations

import logging


def get_logger(name: str):
    import structlog

    return structlog.wrap_logger(
        logging.getLogger(name),
        wrapper_class=structlog.stdlib.BoundLogger,
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.KeyValueRenderer(key_order=["timestamp", "event"]),
        ],
    )
