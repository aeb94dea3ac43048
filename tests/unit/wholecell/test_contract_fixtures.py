"""The probe's saved responses (tests/fixtures/probe/, `bmsync probe --save-fixtures`) replayed against
the models: every file there must read as bmsync's contract says. Drop a real account's files in to
check a correction of ``contract.py`` against them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from bmsync.backmarket.models import Listing, Order
from bmsync.probe import WHOLECELL_MODELS, shape_findings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "probe"
BACKMARKET_MODELS: dict[str, type[BaseModel]] = {"/ws/listings": Listing, "/ws/orders": Order}


def _model(name: str) -> tuple[type[BaseModel], str]:
    side, _, endpoint = name.removesuffix(".json").partition("_")
    path = "/" + endpoint.replace("ws_", "ws/")
    models = WHOLECELL_MODELS if side == "wholecell" else BACKMARKET_MODELS
    return models[path], "data" if side == "wholecell" else "results"


FILES = sorted(FIXTURES.glob("*.json"))


def test_every_list_bmsync_reads_has_a_fixture() -> None:
    names = {path.name for path in FILES}
    assert {f"wholecell{path.replace('/', '_')}.json" for path in WHOLECELL_MODELS} <= names
    assert {"backmarket_ws_listings.json", "backmarket_ws_orders.json"} <= names


@pytest.mark.parametrize("fixture", FILES, ids=[path.name for path in FILES])
def test_a_saved_response_replays_against_the_models(fixture: Path) -> None:
    model, key = _model(fixture.name)
    items = json.loads(fixture.read_text())[key]

    problems = [problem for problem in shape_findings(model, items, key) if not problem.startswith("extra: ")]

    assert items and problems == []


def test_a_replay_says_what_a_renamed_field_breaks() -> None:
    items = json.loads((FIXTURES / "wholecell_inventories.json").read_text())["data"]
    renamed = [{("modified_at" if k == "updated_at" else k): v for k, v in item.items()} for item in items]

    problems = shape_findings(WHOLECELL_MODELS["/inventories"], renamed, "data")

    assert "data.updated_at: missing (bmsync reads InventoryUnit.updated_at)" in problems
    assert any(problem.startswith("extra: ") and "modified_at" in problem for problem in problems)
