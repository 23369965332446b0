"""A drift report is safe when downloaded: a hostile category value runs no script in Chromium.

The monitor writes Evidently's HTML with the data embedded in a script block. Inside Airflow and
the MLflow UI the page is sandboxed; the same file saved and opened is not, so a category value
``</script><script>alert(1)</script>`` must stay text (mlcycle.core.safe_html).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from mlcycle.airflow.devrun import run_monitoring, run_training

PAYLOAD = "</script><script>window.__ran = (window.__ran || 0) + 1; alert(1)</script>"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_HINT = "apt-get install -y --no-install-recommends chromium chromium-driver"
TRAIN_DATE = "2025-10-01T00:00:00+00:00"
WINDOW_END = datetime(2025, 11, 1, tzinfo=UTC)  # the window 2025-10


def test_hostile_category_in_the_downloaded_drift_report_runs_no_script(
    demo_dir: Path, write_pipeline: Callable[..., str], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: this test needs Debian's Chromium. Install it: {CHROMIUM_HINT}")
    name = write_pipeline(
        "xss",
        {"registry": {"model_name": "xss_churn"}, "monitoring": {"schedule": "@monthly", "min_rows": 100}},
    )
    assert (trained := run_training(name, logical_date=TRAIN_DATE)).succeeded, trained.render()
    window = demo_dir / "churn_2025-10.parquet"
    frame = pd.read_parquet(window)
    frame.loc[frame.index[::3], "plan"] = PAYLOAD  # a new category the report lists by value
    frame.to_parquet(window, index=False)

    [w] = run_monitoring(name, [WINDOW_END])
    assert w.state == "success", w.task_states
    report = Path(w.records["drift"]["report"]["html_uri"])
    downloaded = tmp_path / "drift_report.html"
    downloaded.write_bytes(report.read_bytes())

    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(downloaded.as_uri())
            page.wait_for_load_state("load")
            # the report rendered (its data block parsed): Evidently's page shows the drifted-columns widget
            page.get_by_text("Drifted", exact=False).first.wait_for(state="visible", timeout=60_000)
            ran = page.evaluate("window.__ran || 0")
        finally:
            browser.close()
    assert dialogs == [] and ran == 0, (
        f"the downloaded report ran the payload: {ran} times, dialogs {dialogs}"
    )
    assert PAYLOAD not in downloaded.read_text(encoding="utf-8")
