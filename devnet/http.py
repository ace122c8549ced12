"""java-tron's HTTP conventions shared by every servlet devnet emulates.

- GET reads query parameters; POST reads a JSON body (PostParams). A form
  body becomes a JSON object, as PostParams.getJsonString does.
- `visible` comes from the body for POST servlets that parse PostParams, from
  the query string (Util.getVisible) for the others.
- Failures are HTTP 200 with `{"Error": "class <java exception> : <message>"}`
  (Util.processError); answers end with one newline (println).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

__all__ = [
    "JavaError",
    "PostParams",
    "json_response",
    "parse_hex_bytes",
    "parse_json_long",
    "parse_query_long",
    "query_flag",
    "query_visible",
    "read_post_params",
]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_LONG_PATTERN = re.compile(r"[+-]?\d+")

_JSON_EXCEPTION = "com.alibaba.fastjson.JSONException"
_PARSE_EXCEPTION = "org.tron.core.services.http.JsonFormat$ParseException"
_NUMBER_FORMAT_EXCEPTION = "java.lang.NumberFormatException"


class JavaError(Exception):
    """A request java-tron would answer with {"Error": "class <java_class> : <message>"}."""

    def __init__(self, java_class: str, message: str) -> None:
        super().__init__(message)
        self.java_class = java_class
        self.message = message


def json_response(payload: dict[str, Any] | list[Any]) -> web.Response:
    """Answer as RateLimiterServlet does: JSON, UTF-8, one trailing newline (println)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False) + "\n"
    return web.Response(text=body, content_type="application/json", charset="utf-8")


def _java_boolean(value: Any) -> bool:
    """Java's Boolean.parseBoolean(String.valueOf(value)): only "true", any case."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.lower() == "true"


def query_visible(request: web.Request) -> bool:
    """Util.getVisible: the `visible` query parameter (never the body)."""
    return _java_boolean(request.query.get("visible", "").strip())


def query_flag(request: web.Request, name: str) -> bool:
    """Boolean.parseBoolean(request.getParameter(name)): only "true", any case, no trimming."""
    return _java_boolean(request.query.get(name))


@dataclass(frozen=True, slots=True)
class PostParams:
    """The parsed JSON body of a POST and its `visible` flag."""

    values: dict[str, Any]
    visible: bool


async def read_post_params(request: web.Request) -> PostParams:
    """Parse a POST body like PostParams.getPostParams (form bodies become JSON objects)."""
    text = await request.text()
    if request.content_type == "application/x-www-form-urlencoded":
        values: Any = dict(parse_qsl(text, keep_blank_values=True))
    elif not text.strip():
        values = {}
    else:
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise JavaError(_JSON_EXCEPTION, str(exc)) from None
    if not isinstance(values, dict):
        raise JavaError(_JSON_EXCEPTION, "not a JSON object")
    return PostParams(values=values, visible=_java_boolean(values.get("visible")))


def parse_query_long(text: str | None) -> int:
    """Long.parseLong for a query parameter; a missing parameter means 0 as in the servlets."""
    if text is None:
        return 0
    if not _LONG_PATTERN.fullmatch(text) or not _INT64_MIN <= int(text) <= _INT64_MAX:
        raise JavaError(_NUMBER_FORMAT_EXCEPTION, f'For input string: "{text}"')
    return int(text)


def parse_json_long(value: Any) -> int:
    """An int64 field of a JSON body, as JsonFormat.merge accepts it; absent means 0."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise JavaError(_PARSE_EXCEPTION, f'Couldn\'t parse integer: For input string: "{value}"')
    try:
        return parse_query_long(str(value))
    except JavaError as exc:
        raise JavaError(_PARSE_EXCEPTION, f"Couldn't parse integer: {exc.message}") from None


def parse_hex_bytes(text: Any, on_error: JavaError) -> bytes:
    """ByteArray.fromHexString: optional 0x, odd length padded with a leading 0."""
    if text is None:
        return b""
    text = str(text).removeprefix("0x")
    if len(text) % 2:
        text = "0" + text
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise on_error from None
