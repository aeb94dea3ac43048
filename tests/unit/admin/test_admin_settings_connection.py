"""Settings (422 naming fields, 409 on stale versions), tokens (write-only), test connection, status."""

from __future__ import annotations

import json

import boto3

from bmsync.admin.app import build_app
from bmsync.admin.connection_check import ConnectionReport, SideReport
from bmsync.admin.services import AdminServices
from bmsync.clock import ManualClock
from bmsync.connection_secrets import secret_name
from bmsync.settings import ADMIN_SECRET_NAME, BackMarketOrderStatus
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.sync_state import SyncStateRepository
from tests.unit.admin.conftest import AdminClient, FakeConnectionTest

SETTINGS = "/api/connections/default/settings"
BM_TOKEN = "bm-token-0123456789abcdef"
WC_SECRET = "wc-secret-fedcba9876543210"


def test_settings_round_trip_and_version(signed_in: AdminClient) -> None:
    missing = signed_in.api("GET", SETTINGS)
    assert missing.status == 404, missing.body
    assert "version 0" in missing.json()["errors"][0]["message"]
    assert SettingsRepository().get("default") is None  # reading creates nothing
    saved = signed_in.api(
        "PATCH",
        SETTINGS,
        {"version": 0, "quantity_sync_enabled": True, "order_status_map": {"paid": "Processing"}},
    )
    assert saved.status == 200, saved.body
    assert saved.json()["settings"]["version"] == 1
    assert saved.json()["secrets"] == {"backmarket_token_set": False, "wholecell_credentials_set": False}
    assert signed_in.api("GET", SETTINGS).json()["settings"]["version"] == 1
    stored = SettingsRepository().get("default")
    assert stored is not None and stored.quantity_sync_enabled
    assert stored.order_status_map[BackMarketOrderStatus.PAID] == "Processing"
    # The rest of the map is kept.
    assert stored.order_status_map[BackMarketOrderStatus.ACCEPTED] == "Processing"
    unmapped = signed_in.api("PATCH", SETTINGS, {"version": 1, "order_status_map": {"refunded": None}})
    assert unmapped.status == 200 and "refunded" not in unmapped.json()["settings"]["order_status_map"]


def test_invalid_settings_get_422_naming_every_field_and_change_nothing(signed_in: AdminClient) -> None:
    signed_in.api("PATCH", SETTINGS, {"version": 0, "display_name": "Before"})
    reply = signed_in.api(
        "PATCH",
        SETTINGS,
        {
            "version": 1,
            "safety_buffer": -1,
            "backmarket": {"market": "xx-xx"},
            "order_status_map": {"accepted": "Nonexistent"},
        },
    )
    assert reply.status == 422
    fields = {error["field"] for error in reply.json()["errors"]}
    assert {"safety_buffer", "backmarket"} <= fields
    missing_version = signed_in.api("PATCH", SETTINGS, {"display_name": "x"})
    assert missing_version.status == 422
    assert "version" in {error["field"] for error in missing_version.json()["errors"]}
    status_map = signed_in.api("PATCH", SETTINGS, {"version": 1, "order_status_map": {"accepted": "Nope"}})
    assert status_map.status == 422
    assert status_map.json()["errors"][0]["field"] == "order_status_map.accepted"
    stored = SettingsRepository().get("default")
    assert stored is not None and stored.version == 1 and stored.display_name == "Before"


def test_bad_bodies_are_4xx_naming_the_problem(signed_in: AdminClient) -> None:
    not_json = signed_in.request(
        "PATCH", SETTINGS, raw_body="{nope", headers={"x-csrf-token": signed_in.csrf}
    )
    assert not_json.status == 400
    assert not_json.json()["errors"][0]["field"] == "body"
    unknown = signed_in.api("PATCH", SETTINGS, {"version": 0, "no_such_option": True})
    assert unknown.status == 422
    assert unknown.json()["errors"][0]["field"] == "no_such_option"
    reserved = signed_in.api(
        "PATCH", SETTINGS, {"version": 0, "backmarket": {"token_secret_name": ADMIN_SECRET_NAME}}
    )
    assert reserved.status == 422
    assert reserved.json()["errors"][0]["field"] == "backmarket.token_secret_name"
    assert signed_in.api("GET", "/api/connections/Bad_Id/settings").status == 404
    assert SettingsRepository().get("default") is None


def test_stale_version_is_409_and_overwrites_nothing(signed_in: AdminClient) -> None:
    assert signed_in.api("PATCH", SETTINGS, {"version": 0, "display_name": "First"}).status == 200
    assert signed_in.api("PATCH", SETTINGS, {"version": 1, "display_name": "Second"}).status == 200
    stale = signed_in.api("PATCH", SETTINGS, {"version": 1, "display_name": "Lost update"})
    assert stale.status == 409
    assert stale.json()["errors"][0]["field"] == "version"
    stored = SettingsRepository().get("default")
    assert stored is not None and stored.display_name == "Second" and stored.version == 2


def test_settings_form_saves_and_shows_errors_in_place(signed_in: AdminClient) -> None:
    page = signed_in.request("GET", "/connections/default/settings")
    assert page.status == 200
    assert "Calculated Quantity = Available Quantity - Outstanding Quantity" in page.body
    form = {
        "csrf_token": signed_in.csrf,
        "version": "0",
        "display_name": "Shop <EU>",
        "quantity_sync_enabled": "on",
        "safety_buffer": "2",
        "available_statuses": "Available\nRefurbished",
        "order_status_map.pending_payment": "",
        "order_status_map.paid": "",
        "order_status_map.accepted": "Pending",
    }
    saved = signed_in.request("POST", "/connections/default/settings", form=form)
    assert saved.status == 303
    stored = SettingsRepository().get("default")
    assert stored is not None
    assert stored.quantity_sync_enabled and not stored.order_import_enabled
    assert stored.available_statuses == ["Available", "Refurbished"]
    assert BackMarketOrderStatus.PAID not in stored.order_status_map
    assert stored.order_status_map[BackMarketOrderStatus.ACCEPTED] == "Pending"
    shown = signed_in.request("GET", "/connections/default/settings?saved=1")
    assert "Shop &lt;EU&gt;" in shown.body and "Shop <EU>" not in shown.body
    invalid = signed_in.request(
        "POST", "/connections/default/settings", form={**form, "version": "1", "safety_buffer": "-3"}
    )
    assert invalid.status == 422
    assert 'class="field-error"' in invalid.body and "greater than or equal to 0" in invalid.body
    stale = signed_in.request("POST", "/connections/default/settings", form={**form, "version": "0"})
    assert stale.status == 409
    assert SettingsRepository().get("default") == stored


def test_tokens_are_written_to_secrets_manager_and_never_returned(signed_in: AdminClient) -> None:
    base = "/api/connections/default/connection"
    assert signed_in.api("PATCH", SETTINGS, {"version": 0}).status == 200
    saved = signed_in.api("PUT", f"{base}/backmarket-token", {"token": BM_TOKEN})
    assert saved.status == 200 and saved.json()["backmarket"]["token_set"] is True
    wc = signed_in.api("PUT", f"{base}/wholecell", {"app_id": "app-1", "app_secret": WC_SECRET})
    assert wc.status == 200 and wc.json()["wholecell"]["credentials_set"] is True
    client = boto3.client("secretsmanager")
    stored_token = client.get_secret_value(SecretId=secret_name("default", "backmarket-token"))
    assert stored_token["SecretString"] == BM_TOKEN
    stored_wc = json.loads(
        client.get_secret_value(SecretId=secret_name("default", "wholecell"))["SecretString"]
    )
    assert stored_wc == {"app_id": "app-1", "app_secret": WC_SECRET}
    replies = [
        saved,
        wc,
        signed_in.api("GET", base),
        signed_in.api("GET", SETTINGS),
        signed_in.api("GET", "/api/connections/default/status"),
        signed_in.request("GET", "/connections/default/connection"),
        signed_in.request("GET", "/connections/default/settings"),
        signed_in.request("GET", "/connections/default/status"),
    ]
    for reply in replies:
        assert BM_TOKEN not in reply.body and WC_SECRET not in reply.body
    assert signed_in.api("GET", SETTINGS).json()["secrets"] == {
        "backmarket_token_set": True,
        "wholecell_credentials_set": True,
    }


def test_invalid_token_bodies_are_422_and_do_not_echo_the_value(signed_in: AdminClient) -> None:
    base = "/api/connections/default/connection"
    short = signed_in.api("PUT", f"{base}/backmarket-token", {"token": "abc"})
    assert short.status == 422 and short.json()["errors"][0]["field"] == "token"
    spaced = signed_in.api("PUT", f"{base}/wholecell", {"app_id": "", "app_secret": "has spaces in it"})
    assert spaced.status == 422
    assert {error["field"] for error in spaced.json()["errors"]} == {"app_id", "app_secret"}
    assert "has spaces in it" not in spaced.body
    form = signed_in.request(
        "POST",
        "/connections/default/connection/backmarket-token",
        form={"csrf_token": signed_in.csrf, "token": "no"},
    )
    assert form.status == 422 and "token" in form.body
    assert signed_in.api("GET", base).json()["backmarket"]["token_set"] is False


def test_test_connection_reports_each_side_in_plain_words(
    signed_in: AdminClient, connection_test: FakeConnectionTest
) -> None:
    connection_test.report = ConnectionReport(
        backmarket=SideReport(
            service="backmarket",
            ok=False,
            message="Back Market rejected the token: it was reset or is for another platform.",
            action="Get a new token and save it in the admin.",
        ),
        wholecell=SideReport(
            service="wholecell", ok=True, message="WholeCell accepted the App ID and Secret."
        ),
    )
    api = signed_in.api("POST", "/api/connections/default/connection/test")
    assert api.status == 200
    assert api.json()["backmarket"]["ok"] is False
    assert "reset" in api.json()["backmarket"]["message"]
    page = signed_in.request(
        "POST", "/connections/default/connection/test", form={"csrf_token": signed_in.csrf}
    )
    assert "Get a new token and save it in the admin." in page.body
    assert connection_test.calls == ["default", "default"]


def test_status_lists_flows_and_puts_a_revoked_token_first(signed_in: AdminClient, clock) -> None:
    state = SyncStateRepository("default", clock)
    state.raise_alert(
        "listing-sync-5", "Listing 5 could not be updated", severity="warning", subject="listing 5"
    )
    state.raise_alert(
        "order-import-failed", "Order import failed", severity="critical", subject="order 12", action="Retry"
    )
    state.raise_alert(
        "backmarket-token",
        "Back Market rejected the token",
        severity="critical",
        subject="connection",
        action="Save a new token",
    )
    run = state.start_run("order_import")
    state.finish_run(run.model_copy(update={"counts": {"imported": 3}}), "succeeded")
    state.finish_run(state.start_run("quantity_sync.drift_check"), "failed", "Back Market did not answer")
    status = signed_in.api("GET", "/api/connections/default/status").json()
    assert status["alerts"][0]["alert_id"] == "backmarket-token"
    flows = {flow["flow"]: flow["last_run"] for flow in status["flows"]}
    assert flows["order_import"]["counts"] == {"imported": 3}
    assert flows["listing_import"] is None
    assert flows["quantity_sync.drift_check"]["error"] == "Back Market did not answer"
    page = signed_in.request("GET", "/connections/default/status")
    assert "never ran" in page.body and "Save a new token" in page.body


def test_sales_order_statuses_are_read_from_wholecell(signed_in: AdminClient, services) -> None:
    signed_in.api("PATCH", SETTINGS, {"version": 0, "order_status_map": {"paid": "Pending"}})
    services.order_statuses = lambda settings, clock: ["Awaiting", "Processing", "Shipped"]
    reply = signed_in.api("POST", f"{SETTINGS}/wholecell-statuses")
    assert reply.status == 200, reply.body
    settings = reply.json()["settings"]
    assert settings["wholecell_order_statuses"] == ["Awaiting", "Processing", "Shipped"]
    # "Pending" is gone from WholeCell: state 1 is unmapped rather than every save refused.
    assert "paid" not in settings["order_status_map"]
    assert settings["order_status_map"]["accepted"] == "Processing"
    page = signed_in.request("GET", "/connections/default/settings")
    assert '<option value="Awaiting">Awaiting</option>' in page.body

    def unreachable(settings, clock):
        from bmsync.wholecell.errors import ServerError

        raise ServerError("WholeCell answered 503")

    services.order_statuses = unreachable
    failed = signed_in.request(
        "POST", "/connections/default/settings/wholecell-statuses", form={"csrf_token": signed_in.csrf}
    )
    assert failed.status == 502 and "WholeCell did not answer" in failed.body


def test_an_app_keeps_its_own_services_after_another_app_is_built(
    signed_in: AdminClient, services: AdminServices, clock: ManualClock
) -> None:
    # The page routers are module-level: a second app (another test's, or the local runtime's) must
    # not take over the first one's services or caller.
    other_test = FakeConnectionTest()
    build_app(AdminServices(clock=lambda: clock, test_connection=other_test))
    reply = signed_in.api("POST", "/api/connections/default/connection/test")
    assert reply.status == 200
    assert services.test_connection.calls == ["default"]  # type: ignore[attr-defined]
    assert other_test.calls == []
    assert "Connections" in signed_in.request("GET", "/").body
