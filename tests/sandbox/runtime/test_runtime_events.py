from __future__ import annotations

from bmsync_sandbox.runtime.events import summarize


def test_a_scheduled_result_reads_as_words_with_only_what_happened() -> None:
    result = {
        "runs": {
            "demo": {
                "status": "succeeded",
                "error": None,
                "counts": {"imported": 5, "read": 7, "validated": 0},
            },
            "uk": {"status": "succeeded", "error": None, "counts": {"read": 0}},
        }
    }
    assert summarize(result) == "demo: imported 5, read 7; uk: nothing to do"


def test_a_failed_run_shows_its_error_first() -> None:
    result = {"runs": {"demo": {"status": "failed", "error": "Back Market rejected the token", "counts": {}}}}
    assert summarize(result) == "demo: failed: Back Market rejected the token"


def test_long_details_are_cut_and_redacted() -> None:
    text = summarize("Authorization: Basic c2VjcmV0LXRva2Vu " + "x" * 300, limit=60)
    assert "c2VjcmV0LXRva2Vu" not in text and len(text) == 60 and text.endswith("…")
