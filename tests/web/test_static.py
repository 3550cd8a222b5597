"""The web client's files over HTTP on the WebSocket port: types, ETags, 304, CSP, HEAD."""

from __future__ import annotations

import httpx

from corpchat.server import web


def test_index_is_served_with_its_type_etag_and_policy(web_server):
    r = httpx.get(web_server.url)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert b'<script type="module" src="/main.js">' in r.content
    assert r.headers["etag"].startswith('"')
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert f"ws://127.0.0.1:{web_server.port}" in csp  # the socket's origin, named explicitly
    assert "http" not in csp.replace(f"127.0.0.1:{web_server.port}", "")  # no other origin


def test_modules_and_styles_have_their_types(web_server):
    js = httpx.get(web_server.url + "proto/msgpack.js")
    css = httpx.get(web_server.url + "app.css")
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert js.headers["x-content-type-options"] == "nosniff"


def test_a_matching_etag_gets_304_without_a_body(web_server):
    first = httpx.get(web_server.url + "main.js")
    again = httpx.get(web_server.url + "main.js", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    other = httpx.get(web_server.url + "main.js", headers={"if-none-match": '"nope"'})
    assert other.status_code == 200 and other.content == first.content


def test_head_has_the_headers_and_no_body(web_server):
    r = httpx.head(web_server.url + "app.css")
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) == len(httpx.get(web_server.url + "app.css").content)


def test_unknown_paths_and_python_files_are_not_served(web_server):
    assert httpx.get(web_server.url + "__init__.py").status_code == 404
    assert httpx.get(web_server.url + "nothing.js").status_code == 404
    assert httpx.get(web_server.url + "../pyproject.toml").status_code == 404


def test_a_forged_host_is_not_echoed_into_the_policy():
    assert b"evil" not in web.policy(b"a.b; script-src evil")
    assert web.policy(b"chat.example.com:8443").endswith(b"frame-ancestors 'none'")
    assert b"ws://chat.example.com:8443" in web.policy(b"chat.example.com:8443")


def test_the_page_stays_small():
    total = sum(f.stat().st_size for f in web.files_on_disk() if f.suffix in (".js", ".css"))
    assert total <= 300 * 1024, f"the page's own JS and CSS are {total} bytes"
