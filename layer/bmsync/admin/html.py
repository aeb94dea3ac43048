"""Server-rendered HTML with the standard library: every value goes through :func:`esc`."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

STYLESHEET_PATH = "/static/admin.css"


def esc(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf_token" value="{esc(token)}">'


def layout(title: str, body: str, *, csrf: str | None = None, connection_id: str | None = None) -> str:
    nav = ""
    if csrf is not None:
        links = [("/", "Connections")]
        if connection_id:
            base = f"/connections/{connection_id}"
            links += [
                (f"{base}/status", "Status"),
                (f"{base}/listings", "Listings"),
                (f"{base}/orders", "Orders"),
                (f"{base}/doctor", "Doctor"),
                (f"{base}/connection", "Connection"),
                (f"{base}/settings", "Settings"),
            ]
        items = "".join(f'<a href="{esc(href)}">{esc(label)}</a>' for href, label in links)
        nav = (
            f'<nav>{items}<form method="post" action="/signout" class="inline">{csrf_field(csrf)}'
            '<button type="submit" class="link">Sign out</button></form></nav>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · bmsync</title>"
        f'<link rel="stylesheet" href="{STYLESHEET_PATH}"></head><body>'
        f"<header><strong>bmsync</strong>{nav}</header><main><h1>{esc(title)}</h1>{body}</main>"
        "</body></html>"
    )


def notice(text: str, kind: str = "info") -> str:
    return f'<p class="notice {esc(kind)}" role="status">{esc(text)}</p>'


def table(
    headers: list[str],
    rows: list[list[str]],
    *,
    empty: str = "Nothing here yet.",
    head_html: bool = False,
    wide: bool = False,
) -> str:
    """``rows`` (and, with ``head_html``, ``headers``) hold HTML already escaped by the caller; a
    ``wide`` table keeps its columns readable on a phone and scrolls sideways in its own box."""
    if not rows:
        return f'<p class="empty">{esc(empty)}</p>'
    head = "".join(header if head_html else f'<th scope="col">{esc(header)}</th>' for header in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    opening = '<table class="wide">' if wide else "<table>"
    return f'<div class="scroll">{opening}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def definition_list(pairs: list[tuple[str, str]]) -> str:
    """``pairs`` values are HTML already escaped by the caller."""
    return "<dl>" + "".join(f"<dt>{esc(term)}</dt><dd>{value}</dd>" for term, value in pairs) + "</dl>"


def findings_html(findings: list[dict[str, Any]]) -> str:
    """The doctor's findings: question, answer, and what to do."""
    return "".join(
        f'<div class="finding{" ok" if finding["ok"] else ""}"><strong>{esc(finding["question"])}</strong> '
        f"{esc(finding['answer'])}"
        + (f'<div class="action">What to do: {esc(finding["action"])}</div>' if finding["action"] else "")
        + "</div>"
        for finding in findings
    )


def time_html(moment: str | None, relative: str) -> str:
    """A UTC moment as people read it ("2024-05-01 14:03 UTC, 3 min ago"), machine-readable in
    ``datetime`` (no script: the browser's own time zone cannot be used)."""
    if not moment:
        return ""
    shown = moment[:16].replace("T", " ") + " UTC"
    suffix = f", {esc(relative)}" if relative else ""
    return f'<time datetime="{esc(moment)}">{esc(shown)}</time>{suffix}'


def link_to(path: str, params: dict[str, Any]) -> str:
    """``path`` with the non-empty ``params`` as its query string (not escaped for HTML yet)."""
    kept = {name: value for name, value in params.items() if value not in ("", None)}
    return f"{path}?{urlencode(kept)}" if kept else path


def sort_header(label: str, column: str, path: str, params: dict[str, Any]) -> str:
    """A column header linking to the list sorted by ``column`` (a second click reverses it);
    ``params`` are the list's current query (``sort``, ``order`` and the filters)."""
    current = params.get("sort") == column
    descending = params.get("order") == "desc"
    order = "asc" if not current or descending else "desc"
    href = link_to(path, {**params, "sort": column, "order": order, "page": ""})
    aria = f' aria-sort="{"descending" if descending else "ascending"}"' if current else ""
    arrow = (" \u25bc" if descending else " \u25b2") if current else ""
    return f'<th scope="col"{aria}><a href="{esc(href)}">{esc(label)}{arrow}</a></th>'


def pager(path: str, params: dict[str, Any], page: int, pages: int, total: int, noun: str) -> str:
    """ "1,234 listings · page 3 of 25" with links to the first, nearby and last pages."""
    summary = f"{total:,} {noun if total != 1 else noun.removesuffix('s')} · page {page} of {pages}"
    if pages <= 1:
        return f'<p class="pager">{esc(summary)}</p>'
    wanted = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    links: list[str] = []
    if page > 1:
        links.append(f'<a href="{esc(link_to(path, {**params, "page": page - 1}))}" rel="prev">Previous</a>')
    previous = 0
    for number in wanted:
        if number - previous > 1:
            links.append('<span aria-hidden="true">…</span>')
        if number == page:
            links.append(f'<span aria-current="page">{number}</span>')
        else:
            links.append(f'<a href="{esc(link_to(path, {**params, "page": number}))}">{number}</a>')
        previous = number
    if page < pages:
        links.append(f'<a href="{esc(link_to(path, {**params, "page": page + 1}))}" rel="next">Next</a>')
    return f'<nav class="pager" aria-label="Pages"><span>{esc(summary)}</span> {" ".join(links)}</nav>'
