"""Renders the closing card of issue 15 to docs/closing-card.png: runs the service against the fake Dataverse and
the fake Bot Connector, resolves a connected case (an incidentresolution, then the webhook's state change), takes
the card the chat received, and renders it with the Adaptive Cards JavaScript renderer in headless Chromium.

    npm install --prefix tests/.cards adaptivecards@3.0.6     # once (node_modules/ is git-ignored)
    python scripts/closing_card.py [--out docs/closing-card.png]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a file: the project's packages (and its test fakes) come from here
RENDERER = ROOT / "tests" / ".cards" / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js"
CHAT = "19:closing-card-demo@thread.v2"
PAGE = """<!doctype html><meta charset="utf-8"><style>
body { font-family: "Segoe UI", system-ui, sans-serif; background: #f5f5f5; margin: 0; padding: 24px; }
#card { width: 420px; background: #fff; border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.25); padding: 4px; }
</style><div id="card"></div><script>%s</script><script>
const card = new AdaptiveCards.AdaptiveCard();
card.parse(%s);
document.getElementById("card").appendChild(card.render());
</script>"""


async def closing_card() -> dict[str, Any]:
    """Against the fake Dataverse: CloseIncident's incidentresolution, then the webhook's state change."""
    from tests.fake_connector import FakeConnector
    from tests.fake_dataverse import FakeDataverse
    from tests.fake_dataverse_seed import demo_data
    from tests.notify_helpers import CASE, CASE_ID, Service, eventually, notify_config, texts, webhook_body
    from tests.teams import ALEX

    data, ids = demo_data()
    case_id = ids.get(CASE_ID, CASE_ID)
    connector = await FakeConnector().start()
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeDataverse(data) as dataverse, aiohttp.ClientSession() as http:
            config = notify_config(f"sqlite:///{tmp}/demo.db", record_source=f"dataverse:{dataverse.url}",
                                   dataverse_auth="none")
            svc = await Service.start(config, connector, http)
            try:
                await svc.bot.say(f"connect case {CASE}", conv=CHAT, user=ids.get(ALEX, ALEX))
                resolution = {"subject": "Printer driver rolled back to 5.2",
                              "description": "The 6.0 driver pushed on Monday broke printing on floors 2 and 4; "
                                             "rolled back and paused the update ring.",
                              "createdon": "2026-12-02T09:00:00Z", "incidentid@odata.bind": f"/incidents({case_id})"}
                await http.post(f"{dataverse.url}/api/data/v9.2/incidentresolutions", json=resolution)
                await svc.webhook(webhook_body(case_id, priority=None, state=("Active", "Resolved")))
                await eventually(lambda: any("resolved by" in texts(c) for c in connector.cards(CHAT)), 10)
            finally:
                await svc.stop()
                await connector.stop()
    return next(c for c in connector.cards(CHAT) if "resolved by" in texts(c))


async def screenshot(card: dict[str, Any], out: Path) -> None:
    from playwright.async_api import async_playwright

    html = PAGE % (RENDERER.read_text(encoding="utf-8"), json.dumps(card))
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                          args=["--no-sandbox", "--disable-gpu"])
        page = await browser.new_page(viewport={"width": 480, "height": 400}, device_scale_factor=2)
        await page.set_content(html)
        await page.locator("#card").screenshot(path=str(out))
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "closing-card.png")
    args = parser.parse_args()
    if not RENDERER.exists():
        raise SystemExit(f"{RENDERER} is missing: npm install --prefix tests/.cards adaptivecards@3.0.6")
    asyncio.run(screenshot(asyncio.run(closing_card()), args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
