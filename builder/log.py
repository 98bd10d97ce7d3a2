"""Logging with secret redaction at the bottom layer, so no call site can forget it.

Any code that learns a secret (a password, a token, a secret build value) calls
`register_secret(value)`; from then on every log record and every line written through
`redact()` has it replaced by `***`.
"""

from __future__ import annotations

import json
import logging
import threading

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "***"
# Shorter values are too likely to occur by chance and would mangle ordinary output.
_MIN_SECRET_LEN = 4


def register_secret(value: str | bytes | None) -> None:
    if not value:
        return
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    if len(text) < _MIN_SECRET_LEN:
        return
    with _lock:
        _secrets.add(text)
        for line in text.splitlines():
            if len(line.strip()) >= _MIN_SECRET_LEN:
                _secrets.add(line.strip())


def redact(text: str) -> str:
    if not _secrets:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _JsonFormatter(logging.Formatter):
    """One JSON object per record, `{"level", "time", "msg"}` (kaniko's --log-format json);
    beside `--progress json` events, so stderr stays one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "level": record.levelname.lower(),
                "time": self.formatTime(record),
                "msg": redact(record.getMessage()),
            }
        )


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)


def setup_logging(verbosity: str = "info", log_format: str = "text", *,
                  timestamps: bool = False) -> None:  # fmt: skip
    """Configure the root logger once, for the CLI. Levels follow kaniko's --verbosity;
    `timestamps` starts each text line with its time (kaniko's --log-timestamp)."""
    level = {
        "panic": logging.CRITICAL,
        "fatal": logging.CRITICAL,
        "error": logging.ERROR,
        "warn": logging.WARNING,
        "warning": logging.WARNING,
        "info": logging.INFO,
        "debug": logging.DEBUG,
        "trace": logging.DEBUG,
    }.get(verbosity.lower(), logging.INFO)
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        fmt = "%(levelname)s %(message)s" if level <= logging.DEBUG else "%(message)s"
        handler.setFormatter(_RedactingFormatter(("%(asctime)s " if timestamps else "") + fmt))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "hpack"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
