"""The web client's codec against every golden vector, and its protocol client, in Chromium."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"


def _serve_repo_files(route) -> None:
    # /_t/<path> → the repository's file: the test module imports ../../../web/proto/*.js.
    path = route.request.url.split("/_t/", 1)[1]
    target = (ROOT / path).resolve()
    assert ROOT in target.parents
    route.fulfill(body=target.read_bytes(), content_type="text/javascript")


def test_every_vector_in_the_browser(browser, web_server):
    context = browser.new_context()
    page = context.new_page()
    page.route("**/_t/**", _serve_repo_files)
    page.goto(web_server.url)  # the client's own origin and CSP
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(VECTORS.glob("*.json"))}
    result = page.evaluate(
        """async (files) => {
            const t = await import("/_t/tests/web/js/vectors.test.js");
            return t.runVectors(files);
        }""", files)
    context.close()
    assert result["failures"] == []
    assert result["count"] >= 288  # every file was read


def test_the_protocol_client_in_the_browser(browser, web_server):
    """The resume algorithm, `re` matching and paced re-sends (tests/web/js/client.test.js)."""
    context = browser.new_context()
    page = context.new_page()
    page.route("**/_t/**", _serve_repo_files)
    page.goto(web_server.url)
    result = page.evaluate(
        """async () => (await import("/_t/tests/web/js/client.test.js")).runClientTests()""")
    context.close()
    assert result["failures"] == []
    assert result["count"] >= 8
