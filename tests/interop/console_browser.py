"""Drives botgate's console in a real headless Chromium (Debian's, through Playwright; no
browser is downloaded): a wrong token is refused, the right one signs in, the bundled bot is
shown, an injected event appears within a second, the send form sends a message, and the page
works in a narrow window. Prints one JSON line with what it measured; exits non-zero on a
failed check.

    console_browser.py BASE_URL TOKEN SCREENSHOT_PATH
"""

import json
import os
import sys
import time
import urllib.request

from playwright.sync_api import expect, sync_playwright

base, token, screenshot = sys.argv[1], sys.argv[2], sys.argv[3]
chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def inject(text):
    body = json.dumps({"type": "GroupMessage", "sender": {"id": 20001, "group": {"id": 30001}},
                       "messageChain": [{"type": "Plain", "text": text}]}).encode()
    req = urllib.request.Request(f"{base}/api/bots/10001/inject", data=body, method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200, r.status


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, headless=True,
                                args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/")

    # A wrong token is refused; the tables stay hidden.
    page.get_by_label("Token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong token")
    expect(page.locator("#main")).to_be_hidden()

    # The right one, with the keyboard only: the bot and its link show up.
    page.get_by_label("Token").fill(token)
    page.get_by_label("Token").press("Enter")
    expect(page.locator("#main")).to_be_visible()
    bots = page.get_by_role("table", name="Bot accounts")
    expect(bots).to_contain_text("10001")
    expect(bots).to_contain_text("online")
    expect(page.locator("#connection")).to_have_text("Live")

    # An injected event appears within a second.
    started = time.monotonic()
    inject("seen in the browser")
    page.locator("#events li", has_text="seen in the browser").wait_for(timeout=1000)
    event_latency = time.monotonic() - started
    first = page.locator("#events li").first
    expect(first).to_contain_text("GroupMessage")
    first.locator("summary").click()
    expect(first.locator("pre").nth(0)).to_contain_text('"messageChain"')
    expect(first.locator("pre").nth(1)).to_contain_text('"post_type": "message"')

    # Pause holds new events back; the filter narrows the list.
    page.get_by_role("button", name="Pause").click()
    inject("while paused")
    time.sleep(0.3)
    expect(page.locator("#events li", has_text="while paused")).to_have_count(0)
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#events li", has_text="while paused")).to_have_count(1)
    page.get_by_label("Type contains").fill("NoSuchKind")
    expect(page.locator("#events li")).to_have_count(0)
    page.get_by_label("Type contains").fill("")

    # The send form: text and a mention to group 30001.
    page.get_by_label("As bot").select_option("10001")
    page.get_by_label("To", exact=True).select_option("group")
    page.get_by_label("Group or friend number").fill("30001")
    page.get_by_label("Text").first.fill("from the browser")
    page.get_by_label("Mention (QQ number, optional)").fill("20001")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#send-result")).to_contain_text("Sent: message")

    page.screenshot(path=screenshot, full_page=True)

    # A narrow window: the page still fits, nothing scrolls sideways.
    page.set_viewport_size({"width": 380, "height": 800})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 380, f"the page is {width}px wide in a 380px window"

    assert not errors, errors
    browser.close()

print(json.dumps({"eventLatencySeconds": round(event_latency, 3)}))
