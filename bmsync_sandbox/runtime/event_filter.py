"""Lambda's event filter, interpreted: what the local stream pump and the tests use in place of Lambda.

In AWS the event source mapping applies the catalogue's patterns (``StreamSource.filter_patterns``)
before invoking; locally nothing does, so the pump asks this module. Only the rules the catalogue
writes are implemented; any other raises, so a new kind of rule cannot pass silently.
"""

from __future__ import annotations

from typing import Any

from bmsync.catalog import StreamSource


def delivers(source: StreamSource, function: str, record: dict[str, Any]) -> bool:
    """Whether Lambda's event filter passes this stream record (Lambda's event shape) to ``function``."""
    return any(matches_filter(pattern, record) for pattern in source.filter_patterns(function))


def matches_filter(pattern: dict[str, Any], data: Any) -> bool:
    """Whether ``data`` (a stream record, in Lambda's shape) matches one Lambda event-filter pattern.

    Supported, as Lambda reads them: nested objects, lists of alternatives (exact values,
    ``{"anything-but": [...]}``, ``{"exists": bool}``, ``{"prefix": "..."}``). A missing object is
    matched as an empty one, so only ``"exists": false`` can pass inside it.
    """
    fields = data if isinstance(data, dict) else {}
    for key, rule in pattern.items():
        present = key in fields
        if isinstance(rule, dict):
            if not matches_filter(rule, fields[key] if present else {}):
                return False
        elif not any(_matches_alternative(alternative, present, fields.get(key)) for alternative in rule):
            return False
    return True


def _matches_alternative(alternative: Any, present: bool, value: Any) -> bool:
    if not isinstance(alternative, dict):
        return present and value == alternative
    if "exists" in alternative:
        return present is bool(alternative["exists"])
    if "anything-but" in alternative:
        excluded = alternative["anything-but"]
        return present and value not in (excluded if isinstance(excluded, list) else [excluded])
    if "prefix" in alternative:
        return present and isinstance(value, str) and value.startswith(alternative["prefix"])
    raise ValueError(f"unsupported event filter rule: {alternative}")
