"""The console on the Hosting emulator, driven in a real headless Chromium (Debian's chromium and
chromium-driver through Selenium): a user signs in, generates, sees the picture and the balance
move, and a forced failure refunded; an operator sees the weekly reports charted with the
anomalies marked; a non-admin never gets the dashboard. Screenshots at 1280x800 and 390x844 go
to test-artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
from conftest import ROOT, touch
from google.cloud.firestore_v1.base_query import FieldFilter

pytestmark = [pytest.mark.emulator, pytest.mark.browser]

CONSOLE = "http://127.0.0.1:5000"
SHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP, PHONE = (1280, 800), (390, 844)
CHROMIUM = next((p for p in ("chromium", "chromium-browser") if shutil.which(p)), None)
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip(
        "browser tests need Chromium and ChromeDriver; install them with: "
        "sudo apt-get install chromium chromium-driver",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which(CHROMIUM) or CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: Any, condition: Any, timeout: float = 45) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition)


def css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def screenshots(driver: Any, name: str, focus: str | None = None) -> None:
    """Save the page at desktop and phone size, with `focus` scrolled into view; the phone
    layout must not scroll sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in (DESKTOP, PHONE):
        driver.set_window_size(width, height)
        driver.execute_script("window.dispatchEvent(new Event('resize'))")
        if focus:
            driver.execute_script(
                "document.querySelector(arguments[0])?.scrollIntoView({block: 'center'})", focus
            )
        driver.save_screenshot(str(SHOTS / f"{name}-{width}x{height}.png"))
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{name} scrolls sideways by {overflow}px at {width}x{height}"
    driver.set_window_size(*DESKTOP)


def sign_up(email: str) -> str:
    """An email/password user on the Auth emulator; returns its uid."""
    body = json.dumps({"email": email, "password": "password", "returnSecureToken": True})
    req = urllib.request.Request(
        "http://127.0.0.1:9099/identitytoolkit.googleapis.com/v1/accounts:signUp?key=demo-key",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)["localId"]


def open_signed_in(driver: Any, email: str, hash_: str = "") -> None:
    driver.get("about:blank")  # a fresh page load, even when only the hash differs
    driver.get(f"{CONSOLE}/{hash_}")
    wait(driver, lambda d: css(d, "#signin").is_displayed() or css(d, "#who").is_displayed())
    if css(driver, "#who").is_displayed():  # a previous test's session: sign out first,
        css(driver, "#sign-out").click()  # then load the page afresh, so that nothing that
        wait(driver, lambda d: css(d, "#signin").is_displayed())  # session started (its
        driver.get("about:blank")  # catalog load, refilling the form) runs on after the
        driver.get(f"{CONSOLE}/{hash_}")  # new sign-in
        wait(driver, lambda d: css(d, "#signin").is_displayed())
    css(driver, "#email").send_keys(email)
    css(driver, "#password").send_keys("password")
    css(driver, "#signin-button").click()
    wait(driver, lambda d: css(d, "#who").is_displayed())


def balance_is(expected: int) -> Any:
    return lambda d: css(d, "#balance").text == str(expected)


def choose(driver: Any, selector: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    wait(driver, lambda d: len(Select(css(d, selector)).options) > 1 or selector == "#outcome")
    Select(css(driver, selector)).select_by_value(value)


def generate(driver: Any, size: str, outcome: str, prompt: str) -> None:
    choose(driver, "#size", size)
    choose(driver, "#color", "neon")
    choose(driver, "#outcome", outcome)
    field = css(driver, "#prompt")
    field.clear()
    field.send_keys(prompt)
    css(driver, "#generate-button").click()


def newest_card(driver: Any, status: str) -> Any:
    return wait(
        driver,
        lambda d: d.execute_script(
            "const c = document.querySelector('#requests li');"
            "return c && c.dataset.status === arguments[0] ? c : null",
            status,
        ),
    )


# Test users are unverified `web+<tag>@...` addresses: no signup bonus (it needs a verified
# email), so they start at 0 and hold exactly what the test grants.
BASE_EMAIL = "web@tests.example.com"


@pytest.fixture
def user_with_credits(api: Any, admin_headers: dict[str, str]) -> Any:
    def make(credits: int) -> str:
        email = BASE_EMAIL.replace("@", f"+{uuid.uuid4().hex[:10]}@")
        uid = sign_up(email)
        resp = api.post(
            "grantCredits",
            json={"userId": uid, "credits": credits, "reason": "browser test"},
            headers=admin_headers,
        )
        assert resp.status_code == 200, resp.text
        touch(uid)
        return email

    return make


def test_a_user_generates_and_sees_the_picture_and_the_balance(browser, user_with_credits):
    email = user_with_credits(10)
    open_signed_in(browser, email)
    wait(browser, balance_is(10))
    long_prompt = "a lighthouse at dusk " + "with very-long-unbroken-words" * 12
    generate(browser, "1024x1024", "success", long_prompt)
    card = newest_card(browser, "completed")
    size = wait(
        browser,
        lambda d: d.execute_script(
            "const i = arguments[0].querySelector('img');"
            "return i && i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null",
            card,
        ),
    )
    assert size == [1024, 1024]
    wait(browser, balance_is(7))
    assert css(browser, "#balance-top").text == "7"
    ledger = css(browser, "#ledger").text
    assert "deduction" in ledger and "grant" in ledger
    screenshots(browser, "studio-completed", "#requests li")


def test_a_forced_failure_shows_the_refund(browser, user_with_credits):
    email = user_with_credits(5)
    open_signed_in(browser, email)
    wait(browser, balance_is(5))
    generate(browser, "512x512", "failure", "a fox that will not be drawn")
    card = newest_card(browser, "failed")
    assert "Refunded 1 credit(s)." in card.text
    assert "returned an error" in card.text
    wait(browser, balance_is(5))
    assert "refund" in css(browser, "#ledger").text
    screenshots(browser, "studio-refunded", "#requests li")


def test_insufficient_credits_is_a_clear_message(browser, user_with_credits):
    email = user_with_credits(1)
    open_signed_in(browser, email)
    wait(browser, balance_is(1))
    generate(browser, "1024x1792", "success", "too expensive")
    status = wait(
        browser,
        lambda d: d.execute_script(
            "const s = document.querySelector('#generate-status');"
            "return s.classList.contains('error') ? s.textContent : null"
        ),
    )
    assert status == "Not enough credits: this costs 4, you have 1."
    assert css(browser, "#requests").text == ""


@pytest.mark.bulk_data  # writes report data: runs first among the browser tests
def test_an_operator_sees_the_reports_charted_with_anomalies_marked(browser, db):
    from datetime import UTC, datetime

    from demo_data import seed_reports

    from imagegen.core.weeks import previous_week, weeks_before

    last = previous_week(datetime.now(UTC))
    weeks = [*reversed(weeks_before(last, 7)), last]
    reports = seed_reports(db, weeks)
    failing, spike = weeks[-3], weeks[-1]
    assert any(a["key"] == "model-b" for a in reports[-3]["anomalies"])

    open_signed_in(browser, "admin@example.com", "#operations")
    wait(browser, lambda d: css(d, "#tab-operations").is_displayed())
    wait(browser, lambda d: css(d, "#operations-body").is_displayed())
    marker = wait(
        browser,
        lambda d: d.execute_script(
            "return document.querySelector("
            f"'#chart-success .anomaly-marker[data-week=\"{failing}\"]')"
        ),
    )
    assert "model-b failure rate" in marker.get_attribute("aria-label")
    assert browser.execute_script(
        f"return !!document.querySelector('#chart-requests .anomaly-marker[data-week=\"{spike}\"]')"
    )
    canvases = "return document.querySelectorAll('#chart-requests canvas').length"
    assert browser.execute_script(canvases)
    rows = css(browser, "#anomalies tbody").text
    assert failing in rows and "failureRate" in rows and "binomial" in rows
    # incidents first: the failing week is one row (model-b), its symptoms folded inside it
    incident = css(browser, f"#anomalies tr.incident[data-week='{failing}']")
    assert "byModel model-b" in incident.text
    assert (
        len(browser.find_elements("css selector", f"#anomalies tr.incident[data-week='{failing}']"))
        == 1
    )
    hidden = f"#anomalies tr.explained[data-week='{failing}']"
    assert all(not row.is_displayed() for row in browser.find_elements("css selector", hidden))
    incident.find_element("css selector", "button.explains").click()
    shown = browser.find_elements("css selector", hidden)
    assert shown and all(row.is_displayed() for row in shown)
    css(browser, "#audit-button").click()
    wait(browser, lambda d: "user(s)" in css(d, "#audit-status").text)
    screenshots(browser, "operations-dashboard", "#chart-success")


def test_a_non_admin_never_gets_the_dashboard(browser, user_with_credits):
    email = user_with_credits(1)
    open_signed_in(browser, email, "#operations")
    wait(browser, lambda d: css(d, "#operations").is_displayed())
    assert not css(browser, "#tab-operations").is_displayed()
    assert css(browser, "#operations-denied").is_displayed()
    assert not css(browser, "#operations-body").is_displayed()
    assert not browser.execute_script("return document.querySelector('#chart-requests canvas')")
    screenshots(browser, "operations-denied")


def test_the_console_is_keyboard_navigable_and_labelled(browser, user_with_credits):
    email = user_with_credits(1)
    open_signed_in(browser, email)
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('#generate-form select, #generate-form textarea')]"
        '.filter(e => !document.querySelector(`label[for="${e.id}"]`)).map(e => e.id)'
    )
    assert unlabelled == []
    from selenium.webdriver.common.keys import Keys

    css(browser, "#prompt").click()
    css(browser, "#prompt").send_keys(Keys.SHIFT, Keys.TAB)
    focused = browser.execute_script("return document.activeElement.id")
    assert focused in ("size", "outcome")


@pytest.mark.catalog_changes
def test_the_model_picker_offers_the_enabled_models_at_their_prices(browser, db, user_with_credits):
    suffix = uuid.uuid4().hex[:6]
    priced, off = f"t-console-{suffix}", f"t-console-off-{suffix}"
    models = db.collection("models")
    models.document(priced).set(
        {"provider": "openai", "providerModel": "gpt-image-1.5", "credits": {"1024x1024": 9}}
    )
    models.document(off).set({"provider": "openai", "providerModel": "x", "enabled": False})
    try:
        open_signed_in(browser, user_with_credits(10))
        options = "return [...document.querySelectorAll('#model option')].map(o => o.value)"
        offered = wait(browser, lambda d: (v := d.execute_script(options)) and priced in v and v)
        assert {"model-a", "model-b"} <= set(offered) and off not in offered
        choose(browser, "#model", priced)
        choose(browser, "#size", "1024x1024")
        assert "9 credits" in css(browser, "#generate-button").text
        choose(browser, "#model", "model-a")
        assert "3 credits" in css(browser, "#generate-button").text
    finally:
        models.document(priced).delete()
        models.document(off).delete()


def test_a_user_buys_credits_through_checkout_and_sees_the_balance_move(browser, user_with_credits):
    open_signed_in(browser, user_with_credits(10))
    wait(browser, balance_is(10))
    buy = wait(browser, lambda d: d.find_elements("css selector", "button.buy[data-pack=starter]"))
    assert "100 credits" in buy[0].text and "5.00" in buy[0].text
    buy[0].click()
    wait(browser, lambda d: "/pay/cs_test_" in d.current_url)  # the Stripe test page
    assert "100 credits" in css(browser, "#summary").text
    screenshots(browser, "checkout-test-page")
    css(browser, "#pay").click()
    wait(browser, lambda d: d.current_url.startswith(CONSOLE) and "purchase=done" in d.current_url)
    wait(browser, balance_is(110))
    wait(browser, lambda d: css(d, "#purchases li[data-status=paid]"))
    assert "purchase" in css(browser, "#ledger").text
    screenshots(browser, "studio-purchase-paid", "#buy-card")


@pytest.mark.global_changes
@pytest.mark.serial
def test_an_operator_pauses_generation_and_sets_the_budget_from_the_console(browser, db):
    ref = db.document("config/generation")
    open_signed_in(browser, "admin@example.com", "#operations")
    wait(browser, lambda d: css(d, "#operations-body").is_displayed())
    wait(browser, lambda d: css(d, "#controls-form[data-loaded]"))  # the current settings
    try:
        enabled = css(browser, "#controls-enabled")
        if enabled.is_selected():
            enabled.click()
        budget = css(browser, "#controls-budget")
        budget.clear()
        budget.send_keys("5000")
        css(browser, "#controls-form button[type=submit]").click()
        wait(browser, lambda d: "paused" in css(d, "#controls-status").text)
        saved = ref.get().to_dict()
        assert saved["enabled"] is False and saved["dailyCreditBudget"] == 5000
        wait(browser, lambda d: "of 5000" in css(d, "#controls-spent").text)
        screenshots(browser, "operations-controls", "#controls-form")
    finally:
        ref.set({"enabled": True, "dailyCreditBudget": 0})


def test_a_user_deletes_restores_and_erases_an_image_then_deletes_the_account(
    browser, user_with_credits
):
    open_signed_in(browser, user_with_credits(5))
    wait(browser, balance_is(5))
    generate(browser, "512x512", "success", "a picture to delete")
    card = newest_card(browser, "completed")
    rid = card.get_attribute("data-id")
    card.find_element("css selector", "button.delete").click()
    gone = f"return !document.querySelector('#requests li[data-id=\"{rid}\"]')"
    wait(browser, lambda d: d.execute_script(gone))
    css(browser, "#show-deleted").click()
    item = f"#deleted li[data-id='{rid}']"
    wait(browser, lambda d: css(d, item))
    css(browser, f"{item} button.restore").click()
    wait(
        browser,
        lambda d: d.execute_script(
            f"return !!document.querySelector('#requests li[data-id=\"{rid}\"]')"
        ),
    )
    css(browser, f"#requests li[data-id='{rid}'] button.delete").click()
    wait(browser, lambda d: d.execute_script(gone))
    css(browser, "#show-deleted").click()  # close
    css(browser, "#show-deleted").click()  # and open again: reloaded
    wait(browser, lambda d: css(d, f"{item} button.purge")).click()
    wait(browser, lambda d: css(d, f"{item}[data-purged=true]"))
    screenshots(browser, "studio-recently-deleted", "#deleted-section")
    css(browser, "#account-danger summary").click()
    assert not css(browser, "#delete-account").is_enabled()
    css(browser, "#confirm-delete-account").click()
    css(browser, "#delete-account").click()
    wait(browser, lambda d: css(d, "#signin").is_displayed())


def image_shown(driver: Any, selector: str) -> Any:
    """The natural size of the loaded <img> under `selector`, once it has loaded."""
    return wait(
        driver,
        lambda d: d.execute_script(
            "const i = document.querySelector(arguments[0]);"
            "return i && i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null",
            selector,
        ),
    )


def test_a_user_uploads_a_reference_image_and_edits_it(browser, db, user_with_credits, tmp_path):
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (96, 64), (200, 40, 40)).save(photo)
    open_signed_in(browser, user_with_credits(5))
    wait(browser, balance_is(5))
    css(browser, "#reference-file").send_keys(str(photo))  # the file picker
    wait(browser, lambda d: css(d, "#reference-preview").is_displayed())
    upload_id = css(browser, "#reference-preview").get_attribute("data-upload-id")
    assert upload_id and "96×64" in css(browser, "#reference-label").text
    assert image_shown(browser, "#reference-thumb") == [96, 64]
    assert css(browser, "#generate-button").text.startswith("Edit (")
    screenshots(browser, "studio-reference-image", "#generate-form")
    generate(browser, "512x512", "success", "make it blue")
    card = newest_card(browser, "completed")
    assert card.find_element("css selector", ".edit-of").get_attribute("data-kind") == "upload"
    assert image_shown(browser, "#requests li img") == [512, 512]
    saved = db.collection("generationRequests").document(card.get_attribute("data-id")).get()
    assert saved.get("input")["kind"] == "upload" and saved.get("input")["id"] == upload_id
    wait(browser, balance_is(4))
    assert not css(browser, "#reference-preview").is_displayed()  # the next one is new again
    assert css(browser, "#generate-button").text.startswith("Generate (")


def test_edit_on_an_image_opens_a_conversation_from_it(browser, db, user_with_credits):
    open_signed_in(browser, user_with_credits(5))
    wait(browser, balance_is(5))
    generate(browser, "512x512", "success", "a red barn")
    first = newest_card(browser, "completed").get_attribute("data-id")
    wait(browser, lambda d: css(d, f"#requests li[data-id='{first}'] button.edit")).click()
    view = wait(browser, lambda d: css(d, "#conversation[data-id]"))
    session = view.get_attribute("data-id")
    wait(browser, lambda d: css(d, "#conversation-title").text == "a red barn")
    assert "a red barn" in css(browser, "#conversation-start-label").text
    assert image_shown(browser, "#conversation-start-thumb") == [512, 512]
    assert css(browser, "#generate-title").text == "Generate an image"  # the studio is unchanged
    wait(browser, lambda d: css(d, f"#sessions li[data-id='{session}']"))
    css(browser, "#turn-prompt").send_keys("paint it at night")
    css(browser, "#turn-button").click()
    image_shown(browser, "#turns li:nth-child(1)[data-status=completed] img")
    edited = wait(
        browser,
        lambda d: d.execute_script(
            "const c = document.querySelector('#requests li');"
            "return c && c.dataset.id !== arguments[0] && c.dataset.status === 'completed'"
            " ? c : null",
            first,
        ),
    )
    assert "Edit of an earlier image" in edited.text
    saved = db.collection("generationRequests").document(edited.get_attribute("data-id")).get()
    assert saved.get("input")["kind"] == "generation" and saved.get("input")["id"] == first
    assert saved.get("sessionId") == session
    wait(browser, balance_is(3))


def test_a_three_turn_conversation_is_a_thread_and_can_be_deleted(browser, db, user_with_credits):
    open_signed_in(browser, user_with_credits(5))
    wait(browser, balance_is(5))
    choose(browser, "#size", "512x512")
    choose(browser, "#outcome", "success")
    css(browser, "#session-title").send_keys("Harbour")
    css(browser, "#new-conversation-form button").click()
    view = wait(browser, lambda d: css(d, "#conversation[data-id]"))
    session = view.get_attribute("data-id")
    wait(browser, lambda d: css(d, f"#sessions li[data-id='{session}']"))
    for n, instruction in enumerate(["a harbour", "now at night", "add a moon"], start=1):
        css(browser, "#turn-prompt").send_keys(instruction)
        css(browser, "#turn-button").click()
        done = f"#turns li:nth-child({n})[data-status=completed] img"
        image_shown(browser, done)
    turns = browser.find_elements("css selector", "#turns li")
    assert [t.find_element("css selector", ".prompt").text for t in turns] == [
        "a harbour",
        "now at night",
        "add a moon",
    ]
    assert [t.find_element("css selector", ".meta").text for t in turns] == [
        "new image",
        "edit",
        "edit",
    ]
    ids = [t.get_attribute("data-id") for t in turns]
    requests = db.collection("generationRequests")
    for before, after in pairwise(ids):
        assert requests.document(after).get().get("input")["id"] == before
    wait(browser, balance_is(2))
    wait(browser, lambda d: "3 turns" in css(d, f"#sessions li[data-id='{session}']").text)
    screenshots(browser, "studio-conversation", "#conversations-card")
    css(browser, f"#sessions li[data-id='{session}'] button.delete-session").click()
    gone = f"return !document.querySelector('#sessions li[data-id=\"{session}\"]')"
    wait(browser, lambda d: d.execute_script(gone))
    assert not css(browser, "#conversation").is_displayed()
    assert "3 images" in css(browser, "#conversations-status").text


TILES = """
const card = document.querySelector(`#requests li[data-id="${arguments[0]}"]`);
if (!card) return null;
return [...card.querySelectorAll('.tiles > li')].map((t) => {
  const img = t.querySelector('img');
  return {
    index: Number(t.dataset.index), status: t.dataset.status, text: t.textContent,
    url: img ? img.dataset.url : null, src: img ? img.getAttribute('src') : null,
    size: img && img.complete && img.naturalWidth ? [img.naturalWidth, img.naturalHeight] : null,
  };
});
"""


def test_four_images_with_every_second_failing_show_as_a_grid(browser, db, user_with_credits):
    open_signed_in(browser, user_with_credits(10))
    wait(browser, balance_is(10))
    choose(browser, "#size", "512x512")
    choose(browser, "#num-images", "4")
    assert css(browser, "#generate-button").text == "Generate 4 images (4 credits)"
    generate(browser, "512x512", "partial", "four kites")
    rid = newest_card(browser, "completed").get_attribute("data-id")

    def settled(d: Any) -> Any:
        tiles = d.execute_script(TILES, rid)
        if not tiles or any(t["status"] == "completed" and not t["size"] for t in tiles):
            return None
        return tiles

    tiles = wait(browser, settled)
    saved = db.collection("generationRequests").document(rid).get().to_dict()
    assert saved["numImages"] == 4 and saved["status"] == "completed"
    assert len(tiles) == 4
    assert [t["index"] for t in tiles] == [0, 1, 2, 3]
    assert [t["status"] for t in tiles] == [i["status"] for i in saved["images"]]
    assert [t["status"] for t in tiles] == ["completed", "failed", "completed", "failed"]
    shown = [t for t in tiles if t["status"] == "completed"]
    assert [t["url"] for t in shown] == saved["imageUrls"]
    assert all(t["src"].startswith(f"blob:{CONSOLE}/") for t in shown)
    assert len({t["src"] for t in shown}) == 2
    assert all(t["size"] == [512, 512] for t in shown)
    for tile, image in zip(tiles, saved["images"], strict=True):
        if image["status"] == "failed":
            assert tile["url"] is None and tile["src"] is None
            assert image["failureKind"] in tile["text"]
    wait(browser, balance_is(10 - 4 + 2))
    assert css(browser, "#balance-top").text == "8"
    card = css(browser, f"#requests li[data-id='{rid}']")
    assert card.get_attribute("data-images") == "4"
    assert "2 of 4 images failed; refunded 2 credit(s)." in card.text
    screenshots(browser, "studio-four-images", f"#requests li[data-id='{rid}']")


def test_one_image_stays_a_single_picture(browser, db, user_with_credits):
    open_signed_in(browser, user_with_credits(3))
    wait(browser, balance_is(3))
    choose(browser, "#num-images", "1")
    generate(browser, "512x512", "success", "one kite")
    rid = newest_card(browser, "completed").get_attribute("data-id")
    assert image_shown(browser, f"#requests li[data-id='{rid}'] > img") == [512, 512]
    assert not browser.find_elements("css selector", f"#requests li[data-id='{rid}'] .tiles")
    saved = db.collection("generationRequests").document(rid).get().to_dict()
    assert saved.get("numImages", 1) == 1
    wait(browser, balance_is(2))


def uid_of(email: str) -> str:
    """The uid of a test user (a password sign-in on the Auth emulator)."""
    body = json.dumps({"email": email, "password": "password", "returnSecureToken": True})
    req = urllib.request.Request(
        "http://127.0.0.1:9099/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword"
        "?key=demo-key",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)["localId"]


def balances_match_firestore(driver: Any, db: Any, uid: str) -> None:
    """Both balances the console shows equal the user's balance in Firestore."""
    stored = db.collection("users").document(uid).get().get("credits")
    wait(driver, balance_is(stored))
    assert css(driver, "#balance-top").text == str(stored)


def test_edit_on_one_image_of_four_opens_a_conversation_from_it(browser, db, user_with_credits):
    email = user_with_credits(10)
    uid = uid_of(email)
    open_signed_in(browser, email)
    wait(browser, balance_is(10))
    choose(browser, "#num-images", "4")
    generate(browser, "512x512", "partial", "four kites")
    rid = newest_card(browser, "completed").get_attribute("data-id")
    tile = f"#requests li[data-id='{rid}'] .tiles > li[data-index='2']"
    image_shown(browser, f"{tile} img")
    wait(browser, balance_is(10 - 4 + 2))

    # Edit on the third image opens a new conversation, titled from the prompt, from that image
    css(browser, f"{tile} button.edit").click()
    session = wait(browser, lambda d: css(d, "#conversation[data-id]")).get_attribute("data-id")
    wait(browser, lambda d: css(d, "#conversation-title").text == "four kites")
    assert css(browser, "#conversation-start-label").text == "Your image 3: four kites"
    assert image_shown(browser, "#conversation-start-thumb") == [512, 512]
    start = json.loads(css(browser, "#conversation-start").get_attribute("data-input"))
    assert start == {"generationRequestId": rid, "index": 2}
    sessions = db.collection("users").document(uid).collection("sessions")
    stored = sessions.document(session).get().to_dict()
    assert (stored["title"], stored["turns"]) == ("four kites", 0)
    wait(browser, lambda d: "0 turns" in css(d, f"#sessions li[data-id='{session}']").text)

    # The first instruction edits that image: one charge, the input names index 2
    css(browser, "#turn-prompt").send_keys("now at night")
    css(browser, "#turn-button").click()
    image_shown(browser, "#turns li:nth-child(1)[data-status=completed] img")
    first = css(browser, "#turns li:nth-child(1)").get_attribute("data-id")
    saved = db.collection("generationRequests").document(first).get().to_dict()
    assert saved["sessionId"] == session
    source = saved["input"]
    assert (source["kind"], source["id"], source["index"]) == ("generation", rid, 2)
    assert saved.get("numImages", 1) == 1 and saved["cost"] == 1
    entries = db.collection("users").document(uid).collection("transactions")
    of_first = FieldFilter("generationRequestId", "==", first)
    charges = [e.to_dict() for e in entries.where(filter=of_first).stream()]
    assert [(e["type"], e["credits"]) for e in charges] == [("deduction", 1)]
    wait(browser, balance_is(7))
    balances_match_firestore(browser, db, uid)

    # The second continues from the first turn's image
    css(browser, "#turn-prompt").send_keys("add a moon")
    css(browser, "#turn-button").click()
    image_shown(browser, "#turns li:nth-child(2)[data-status=completed] img")
    second = css(browser, "#turns li:nth-child(2)").get_attribute("data-id")
    saved = db.collection("generationRequests").document(second).get().to_dict()
    assert saved["sessionId"] == session
    assert (saved["input"]["kind"], saved["input"]["id"]) == ("generation", first)
    assert saved["input"].get("index") is None
    turns = browser.find_elements("css selector", "#turns li")
    assert [t.find_element("css selector", ".meta").text for t in turns] == ["edit", "edit"]
    assert [t.find_element("css selector", ".prompt").text for t in turns] == [
        "now at night",
        "add a moon",
    ]
    wait(browser, lambda d: "2 turns" in css(d, f"#sessions li[data-id='{session}']").text)
    assert sessions.document(session).get().get("turns") == 2
    wait(browser, balance_is(6))
    balances_match_firestore(browser, db, uid)
    screenshots(browser, "studio-conversation-from-an-image", "#conversations-card")


DROP = """
const [b64, name, type] = arguments;
const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const data = new DataTransfer();
data.items.add(new File([bytes], name, { type }));
const target = document.querySelector('#generate-form');
const fire = (kind) => target.dispatchEvent(
  new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: data }));
const accepted = !fire('dragover');  // the studio takes files: it prevents the default
const marked = document.querySelector('#generate-form').classList.contains('dropping');
const dropped = !fire('drop');
return { accepted, marked, dropped,
  after: document.querySelector('#generate-form').classList.contains('dropping') };
"""


def test_a_reference_image_dropped_on_the_studio_is_uploaded_and_edited(
    browser, db, user_with_credits
):
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (80, 48), (30, 120, 200)).save(buffer, format="PNG")
    email = user_with_credits(3)
    uid = uid_of(email)
    open_signed_in(browser, email)
    wait(browser, balance_is(3))
    choose(browser, "#num-images", "1")
    png = base64.b64encode(buffer.getvalue()).decode()
    events = browser.execute_script(DROP, png, "dropped.png", "image/png")
    assert events == {"accepted": True, "marked": True, "dropped": True, "after": False}
    wait(browser, lambda d: css(d, "#reference-preview").is_displayed())
    upload_id = css(browser, "#reference-preview").get_attribute("data-upload-id")
    assert upload_id and "dropped.png (80×48)" in css(browser, "#reference-label").text
    assert image_shown(browser, "#reference-thumb") == [80, 48]
    upload = db.collection("users").document(uid).collection("uploads").document(upload_id).get()
    assert upload.exists
    assert (upload.get("contentType"), upload.get("width"), upload.get("height")) == (
        "image/png",
        80,
        48,
    )
    assert css(browser, "#generate-button").text.startswith("Edit (")
    generate(browser, "512x512", "success", "make it green")
    card = newest_card(browser, "completed")
    assert card.find_element("css selector", ".edit-of").get_attribute("data-kind") == "upload"
    saved = db.collection("generationRequests").document(card.get_attribute("data-id")).get()
    assert (saved.get("input")["kind"], saved.get("input")["id"]) == ("upload", upload_id)
    wait(browser, balance_is(2))
    balances_match_firestore(browser, db, uid)
    assert not css(browser, "#reference-preview").is_displayed()
