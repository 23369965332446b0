"""escape_embedded_json: JSON a report embeds in a script cannot close the script."""

from __future__ import annotations

import json
import re

from mlcycle.core.safe_html import escape_embedded_json

PAYLOAD = "</script><script>alert(1)</script>"


def _page(data: object, extra: str = "") -> str:
    return (
        "<html><head><script>function render(d) { return d; }</script></head><body>\n"
        f"<script>\n    var dashboard_1 = {json.dumps(data)};\n"
        f"    var additional_graphs_dashboard_1 = {json.dumps([{'x': PAYLOAD}])};\n</script>\n"
        f"{extra}<p>a &lt; b</p></body></html>"
    )


def _assignments(page: str) -> list[object]:
    decoder = json.JSONDecoder()
    out = []
    for m in re.finditer(r"^\s*var \w+ = ", page, flags=re.M):
        out.append(decoder.raw_decode(page, m.end())[0])
    return out


def test_the_payload_cannot_close_the_script_and_the_data_is_unchanged() -> None:
    data = {"widgets": [{"category": PAYLOAD, "html": "<b>x</b>", "comment": "<!-- -->"}], "n": [1, 2.5]}
    page = _page(data)
    safe = escape_embedded_json(page)
    assert PAYLOAD not in safe
    assert safe.count("</script>") == 2  # the page's own two script blocks, nothing else
    assert "<!--" not in safe and "<b>" not in safe
    assert _assignments(safe) == _assignments(page) == [data, [{"x": PAYLOAD}]]


def test_markup_outside_the_embedded_json_is_left_alone() -> None:
    page = _page({"a": 1}, extra="<div>var x = {not json}</div>\n")
    safe = escape_embedded_json(page)
    assert safe.startswith("<html><head><script>function render(d) { return d; }</script>")
    assert "<div>var x = {not json}</div>" in safe and "<p>a &lt; b</p></body></html>" in safe


def test_a_page_without_embedded_json_is_returned_as_is() -> None:
    page = "<!doctype html><html><body><script>var n = 1;</script><p>card</p></body></html>"
    assert escape_embedded_json(page) == page
