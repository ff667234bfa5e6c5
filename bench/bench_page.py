"""Registrant page benchmark: page weight, submit-to-receipt time, seal time.

    .venv/bin/python bench/bench_page.py [--runs 50] [--seals 200]

Starts the real intake app on loopback (a temporary data directory and a
fresh key), then in headless Chromium (/usr/bin/chromium):

- page weight: every language's HTML plus the CSS and JS it loads to
  register, uncompressed (budget 100 KB), and what loads only when used;
- submit -> receipt: from the submit event to the receipt being shown, as
  the page's own performance marks (`dvr-submit`, `dvr-receipt`) measure it;
  the form is refilled and the page reloaded for every run (budget: median
  150 ms);
- seal alone: `sealSubmission` of the same record (pad + HPKE + envelope),
  timed inside the page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from werkzeug.serving import WSGIRequestHandler, make_server

from intake import IntakeConfig, create_app
from intake.keyring import add_bundle
from intake.pages import LAZY_ASSETS
from vault import derive_keys, new_master_secret

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--headless"]
PAGES = ("/", "/en/", "/sr/", "/de/")
WEIGHT_BUDGET = 100_000
SUBMIT_BUDGET_MS = 150.0

RECORD = {
    "given_name": "Arbëreshë",
    "family_name": "Çollaku",
    "birth_date": "1988-03-14",
    "sex": "female",
    "origin_country": "XK",
    "origin_municipality": "prizren",
    "residence_country": "DE",
    "residence_city": "Stuttgart",
    "emigration_year": 2012,
    "status": "employed",
    "education_level": "isced7",
    "profession": "Inxhiniere softueri",
    "languages": ["sq", "de", "en"],
    "email": "arbereshe@example.com",
    "consent": {"processing": True, "contact": True},
}

# Fill the form from a record in one go (the benchmark measures sending, not typing).
FILL = """(record) => {
  const form = document.getElementById("registration");
  const set = (name, value) => {
    for (const el of form.querySelectorAll(`[name="${name}"]`)) {
      if (el.type === "radio" || el.type === "checkbox") el.checked = [].concat(value).map(String).includes(el.value);
      else el.value = String(value);
      el.dispatchEvent(new Event("change", { bubbles: true }));
    }
  };
  for (const [name, value] of Object.entries(record)) {
    if (name === "consent") for (const [k, v] of Object.entries(value)) set(`consent.${k}`, v ? "true" : "");
    else set(name, value);
  }
}"""

TIME_SEAL = """async ({bundle, submission, n}) => {
  const seal = await import("/assets/seal.js");
  const key = await seal.checkBundle(bundle);
  await seal.sealSubmission(submission, key);  // warm up
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await seal.sealSubmission(submission, key);
    times.push(performance.now() - t0);
  }
  return times;
}"""


class _Quiet(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        return


def page_weight(origin: str) -> dict[str, int]:
    """Bytes of each page plus every asset it loads to register (all but pages.LAZY_ASSETS, which
    load only when a receipt is checked, a code used or another kind than the individual chosen),
    and, as `lazy`, those together."""

    def size(path: str) -> int:
        with urlopen(origin + path) as response:  # noqa: S310 - loopback URL built here
            return len(response.read())

    with urlopen(origin + "/.well-known/dvr-static-manifest.json") as response:  # noqa: S310
        listed = json.load(response)["assets"]
    assets = sum(size(url) for url in listed if url not in LAZY_ASSETS)
    return {**{path: size(path) + assets for path in PAGES}, "lazy": sum(size(url) for url in LAZY_ASSETS)}


def submit_times(browser: Any, origin: str, runs: int) -> list[float]:
    page = browser.new_page()
    times = []
    for _ in range(runs):
        page.goto(origin + "/")
        page.wait_for_selector("#submit:not([disabled])")
        page.evaluate(FILL, RECORD)
        page.click("#submit")
        page.wait_for_selector("[data-testid=receipt]", state="visible")
        times.append(page.evaluate("performance.measure('submit', 'dvr-submit', 'dvr-receipt').duration"))
    page.close()
    return times


def seal_times(browser: Any, origin: str, bundle: dict[str, Any], n: int) -> list[float]:
    page = browser.new_page()
    page.goto(origin + "/")
    submission = {"schema": "dvr-registration/1", "lang": "sq", "record": RECORD}
    times: list[float] = page.evaluate(TIME_SEAL, {"bundle": bundle, "submission": submission, "n": n})
    page.close()
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, min {ordered[0]:.1f} ms (n={len(times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="submissions to time")
    parser.add_argument("--seals", type=int, default=200, help="seals to time")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="dvr-bench-page-") as tmp:
        data = Path(tmp)
        key = derive_keys(new_master_secret())
        add_bundle(IntakeConfig(data_dir=data).keys_path, key.bundle().to_json())
        app = create_app(IntakeConfig(data_dir=data))
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        origin = f"http://127.0.0.1:{server.server_port}"
        try:
            weights = page_weight(origin)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                print(f"Chromium {browser.version}, intake on loopback ({origin})")
                submits = submit_times(browser, origin, args.runs)
                seals = seal_times(browser, origin, key.bundle().to_json(), args.seals)
                browser.close()
        finally:
            server.shutdown()
            app.extensions["dvr_store"].close()

    print("page weight (HTML + CSS + JS, uncompressed; budget 100 KB):")
    lazy = weights.pop("lazy")
    for path, weight in weights.items():
        flag = "ok" if weight <= WEIGHT_BUDGET else "OVER BUDGET"
        print(f"  {path:5} {weight / 1000:6.1f} KB  {flag}")
    print(f"  loaded only when used (receipt check, code, other kinds; all languages): {lazy / 1000:.1f} KB")
    median = statistics.median(submits)
    flag = "ok" if median <= SUBMIT_BUDGET_MS else "OVER BUDGET"
    print(f"submit -> receipt (seal + POST + durable store + receipt shown): {summary(submits)}  {flag}")
    print(f"seal alone (pad + HPKE X25519/HKDF/AES-GCM + envelope): {summary(seals)}")


if __name__ == "__main__":
    main()
