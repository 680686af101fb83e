#!/usr/bin/env python3
"""Does the demo data slow the development stack? createGenerationRequest p50 with a console
tab open (signed in, its listeners live), before and after `scripts/demo_data.py`, with the
demo requests removed after their reports (the default) and then kept (`--keep-requests`, how
it used to be). Prints figures; asserts nothing. Against running emulators:

    functions/venv/bin/python bench/bench_demo.py        # needs Debian's chromium + chromium-driver

All traffic goes to 127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions"))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080")

BASE = "http://127.0.0.1:5001/demo-imagegen/us-central1"
BODY = {"model": "model-a", "style": "anime", "color": "neon", "size": "512x512", "prompt": "b"}


def console_tab():
    """A headless browser signed in to the console's studio (its listeners stay open)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.get("http://127.0.0.1:5000/")
    WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "email").is_displayed())
    driver.find_element(By.ID, "email").send_keys("testuser1@example.com")
    driver.find_element(By.ID, "password").send_keys("password")
    driver.find_element(By.ID, "signin-button").click()
    WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "who").is_displayed())
    return driver


def create_p50(db, n: int = 40) -> float:
    uid = f"bench-demo-{uuid.uuid4().hex[:8]}"
    db.collection("users").document(uid).set(
        {"credits": 10 * n, "limits": {"perMinute": 0, "maxPending": 0}}
    )
    session = requests.Session()
    times = []
    for i in range(n + 5):
        started = time.perf_counter()
        resp = session.post(
            f"{BASE}/createGenerationRequest",
            json={"userId": uid, **BODY},
            headers={"X-Simulate-Outcome": "success"},
            timeout=120,
        )
        resp.raise_for_status()
        if i >= 5:  # warm-up first
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    from demo_data import fill
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    from imagegen.core.weeks import previous_week, weeks_before

    db = firestore.Client(project="demo-imagegen", credentials=AnonymousCredentials())
    driver = console_tab()
    try:
        last = previous_week(datetime.now(UTC))
        weeks = [*reversed(weeks_before(last, 9)), last]
        before = create_p50(db)
        fill(db, weeks)
        after = create_p50(db)
        fill(db, weeks, keep_requests=True)
        kept = create_p50(db)
    finally:
        driver.quit()
    print("createGenerationRequest p50 with a console tab open (ms)")
    print(f"  before the demo data                 {before:7.1f}")
    print(f"  after it (requests removed; default) {after:7.1f}   ratio {after / before:.2f}")
    print(f"  after it with --keep-requests        {kept:7.1f}   ratio {kept / before:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
