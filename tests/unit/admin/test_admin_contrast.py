"""The console's text stays readable: WCAG contrast of admin.css's text/background pairs is ≥ 4.5."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import bmsync.admin

CSS = (Path(bmsync.admin.__file__).parent / "static" / "admin.css").read_text()
BODY_TEXT = 4.5


def _rules(css: str) -> dict[str, dict[str, str]]:
    """selector -> its declarations (later rules win), comments dropped."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules: dict[str, dict[str, str]] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        declarations = dict(
            (name.strip(), value.strip())
            for name, _, value in (part.partition(":") for part in body.split(";"))
            if value.strip()
        )
        for selector in selectors.split(","):
            rules.setdefault(" ".join(selector.split()), {}).update(declarations)
    return rules


RULES = _rules(CSS)


def _colour(selector: str, prop: str) -> str:
    value = RULES[selector][prop]
    found = re.search(r"var\((--[\w-]+)\)", value)
    if found:
        value = RULES[":root"][found.group(1)]
    match = re.search(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b", value)
    assert match, f"{selector} {prop}: {value} is no hex colour"
    return match.group(0)


def _luminance(colour: str) -> float:
    digits = colour[1:]
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    channels = [int(digits[index : index + 2], 16) / 255 for index in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_contrast_formula_matches_wcag() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


PAGE = ("body", "background")
WHITE = ("table", "background")  # tables, fieldsets, lists and findings are white
PAIRS = [
    (("body", "color"), PAGE),
    (("body", "color"), WHITE),
    (("a", "color"), PAGE),
    (("a", "color"), WHITE),
    ((".help", "color"), PAGE),
    ((".help", "color"), WHITE),
    ((".warn", "color"), WHITE),
    ((".bad", "color"), WHITE),
    ((".ok", "color"), WHITE),
    (("body", "color"), (".notice", "background")),
    ((".notice.error", "color"), (".notice.error", "background")),
    ((".notice.warning", "color"), (".notice.warning", "background")),
    (("button", "color"), ("button", "background")),
    ((".legend", "color"), (".chart", "background")),
]


@pytest.mark.parametrize(("text", "background"), PAIRS, ids=lambda pair: f"{pair[0]} {pair[1]}")
def test_text_contrast_is_at_least_4_5(text: tuple[str, str], background: tuple[str, str]) -> None:
    foreground, behind = _colour(*text), _colour(*background)
    ratio = contrast(foreground, behind)
    assert ratio >= BODY_TEXT, f"{text} {foreground} on {background} {behind}: {ratio:.2f}"
