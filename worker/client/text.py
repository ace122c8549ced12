"""Printing safely: escaped text, amounts in TRX, short ids, times and ages."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    pass


def _safe(text: str, *, keep_newlines: bool = False) -> str:
    """Text with every control or otherwise unprintable character escaped (\\x1b, \\u2028):
    what a publisher wrote can never move the cursor or recolour the terminal."""
    out = []
    for char in text:
        if char.isprintable() or (keep_newlines and char in "\n\t"):
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def _plain(value: Any) -> Any:
    """An AMQP header value as JSON-ready data (byte arrays as text, times as ISO)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _trx(sun: Any, *, unit: bool = True) -> str:
    """Sun as TRX with integer arithmetic only (1 TRX = 1,000,000 sun)."""
    if not isinstance(sun, int) or isinstance(sun, bool):
        return "?"
    whole, frac = divmod(abs(sun), 1_000_000)
    text = f"{'-' if sun < 0 else ''}{whole:,}" + (f".{frac:06d}".rstrip("0") if frac else "")
    return f"{text} TRX" if unit else text


def _short(txid: Any) -> str:
    text = str(txid)
    return f"{text[:12]}…" if len(text) > 16 else text


def _time(value: Any) -> str:
    try:
        return _when(datetime.fromisoformat(str(value)))
    except ValueError:
        return _when(datetime.now(UTC))


def _when(at: Any) -> str:
    if not isinstance(at, datetime):
        return "-"
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _age(seconds: int) -> str:
    days, rest = divmod(max(seconds, 0), 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def _print_json(data: Any) -> None:
    print(json.dumps(data, default=_json_value, ensure_ascii=True), flush=True)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    return str(value)


def _console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    # No markup or highlighting: every string may be user input, styled only by Text. Off a
    # terminal, wide enough that no table folds an id (rich assumes 80 columns there).
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 1000
    return Console(
        stderr=stderr, markup=False, highlight=False, emoji=False, soft_wrap=True, width=width
    )
