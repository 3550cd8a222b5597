"""The web client's performance figures (a benchmark, not a test): `python -m tests.web.bench`.

1. First paint of the conversation list with 200 conversations: from navigation
   start to the frame in which all 200 rows are in the DOM, on loopback; and to
   the frame in which every row shows its last message (revision 1.9 sends them
   with the list; before it, the client asked `history` of 1 per conversation).
   `--list-only` measures this alone (no 10,000 messages), `--rounds N` repeats it.
2. Memory after scrolling through 10,000 messages of one conversation, from the
   newest to the first: the JS heap (performance.memory), the DOM node count
   (CDP Performance.getMetrics) and the renderer processes' resident memory.
Results go to stdout; docs/benchmarks.md records them with the machine.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

import trio
from playwright.sync_api import sync_playwright
from trio_websocket import open_websocket_url

from corpchat.protocol import SUBPROTOCOL, Hello, Send, decode_server_frame, encode

from .conftest import CHROMIUM, CHROMIUM_ARGS, WebServer, _serve

CONVERSATIONS = 200
MESSAGES = 10_000
SENDERS = 16  # connections sending the 10,000 messages side by side (each under the rate limit)


async def _send_all(url: str, token: str, texts: list[tuple[str, str]]) -> None:
    """Send (to, text) pairs on one connection, pipelined, 150 a second, reading as it goes
    (the user's other connections get these messages too: unread, their buffers would fill)."""
    async with open_websocket_url(url, subprotocols=[SUBPROTOCOL]) as ws:
        await ws.send_message(encode(Hello(id=1, token=token)))
        decode_server_frame(await ws.get_message())
        done = trio.Event()

        async def read() -> None:
            acked = 0
            while acked < len(texts):
                acked += decode_server_frame(await ws.get_message()).TYPE == "ack"
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            for i, (to, text) in enumerate(texts):
                cmid = f"{token[-8:]}-{id(texts)}-{i}"
                await ws.send_message(encode(Send(id=i + 2, client_msg_id=cmid, text=text, to=to)))
                if i % 150 == 149:
                    await trio.sleep(1)
            await done.wait()


async def _populate(server: WebServer, tokens: dict[str, str], messages: int = MESSAGES) -> None:
    url = f"ws://127.0.0.1:{server.port}/"
    async with trio.open_nursery() as nursery:
        for n in range(CONVERSATIONS):  # 200 colleagues, one message each to ann
            hello = [("ann", f"Hello Ann, this is p{n}")]
            nursery.start_soon(_send_all, url, tokens[f"p{n}"], hello)
            if n % 25 == 24:
                await trio.sleep(0.2)
    per = messages // SENDERS
    if not per:
        return
    async with trio.open_nursery() as nursery:
        for s in range(SENDERS):
            texts = [("ann", f"message {s * per + i}: the quick brown fox jumps over the lazy dog")
                     for i in range(per)]
            nursery.start_soon(_send_all, url, tokens["ben"], texts)


def _renderer_memory() -> str:
    """RSS and PSS (shared pages divided among their users) of *our* browser's renderers
    (descendants of this process; other people's browsers on the machine do not count)."""
    rss, pss = 0.0, 0.0
    for pid in _renderers():
        with open(f"/proc/{pid}/smaps_rollup") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        rss += int(fields["Rss"].split()[0]) / 1024
        pss += int(fields["Pss"].split()[0]) / 1024
    return f"renderer RSS {rss:.0f} MB, PSS {pss:.0f} MB"


def _renderers() -> list[str]:
    rows = [line.split(None, 3) for line in subprocess.run(
        ["ps", "-eo", "pid,ppid,rss,args"], capture_output=True, text=True).stdout.splitlines()[1:]]
    children: dict[str, list[list[str]]] = {}
    for row in rows:
        children.setdefault(row[1], []).append(row)
    found, todo = [], [str(os.getpid())]
    while todo:
        for row in children.get(todo.pop(), []):
            todo.append(row[0])
            if "--type=renderer" in row[3]:
                found.append(row[0])
    return found


# Installed before the page's own scripts (an init script, not subject to the page's CSP):
# notes the time of the DOM change that completes the list, and the one that gives every
# row its last message. The list renders in a requestAnimationFrame callback, so it is
# painted in that same frame: later work on the main thread (the peers' user.info
# requests) cannot delay it, though it would delay a rAF-polling measurement.
PAINT_WATCH = """((want) => {
  window.paintTimes = {};
  const check = () => {
    const rows = document.querySelectorAll(".conv").length;
    if (rows < want) return;
    const t = window.paintTimes;
    t.rows ??= performance.now();
    const bare = [...document.querySelectorAll(".conv-preview")]
      .filter((el) => !el.textContent).length;
    if (bare <= 1 && t.previews === undefined) t.previews = performance.now();  // not the board
  };
  new MutationObserver(check).observe(document,
    { childList: true, subtree: true, characterData: true });
})(%d)"""

FIRST_PAINT = """async () => {
  while (window.paintTimes.previews === undefined) await new Promise((r) => setTimeout(r, 20));
  const fcp = performance.getEntriesByName("first-contentful-paint")[0] || {};
  const mark = (name) => (performance.getEntriesByName(name)[0] || {}).startTime;
  const t = window.paintTimes;
  return { listMs: t.rows, previewsMs: t.previews, fcp: fcp.startTime,
           asked: mark("conversations-asked"), answered: mark("conversations-answered") };
}"""


SCROLL_ALL = """async (want) => {
  // Scroll up until the conversation's first message is on the page (the page keeps at
  // most 1,500 messages; the model keeps them all), then count what the model holds.
  const log = document.querySelector(".log");
  const t0 = performance.now();
  while (!document.querySelector('.message[data-seq="1"]')) {
    log.scrollTop = 0;
    await new Promise((r) => setTimeout(r, 30));
    if (performance.now() - t0 > 300000) break;
  }
  const chat = window.corpchat.chat(window.corpchat.openConv.conv);
  return { messages: chat.bySeq.size, ms: performance.now() - t0,
           inPage: document.querySelectorAll(".message").length };
}"""


def _open_list(browser, server: WebServer, token: str):
    """A fresh context (a new device) signed in with `token`, once its list is painted."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(PAINT_WATCH % (CONVERSATIONS + 1))  # and the notice board
    page = context.new_page()
    page.goto(f"{server.url}#token={token}")
    paint = page.evaluate(FIRST_PAINT)
    print(f"first paint of the list ({CONVERSATIONS + 1} rows): {paint['listMs']:.0f} ms "
          f"after navigation start, every last message shown at {paint['previewsMs']:.0f} ms "
          f"(first contentful paint {paint['fcp']:.0f} ms)")
    if paint["asked"] is not None:
        print(f"  conversations asked at {paint['asked']:.0f} ms, answered at "
              f"{paint['answered']:.0f} ms")
    return page


def list_only(rounds: int) -> None:
    """Figure 1 alone, `rounds` times, each in a fresh browser context (a new device)."""
    server = WebServer(os.path.join(tempfile.mkdtemp(), "data"))
    started: queue.Queue = queue.Queue()
    threading.Thread(target=_serve, args=(server, started), daemon=True).start()
    assert started.get(timeout=30) is None
    tokens = {"ann": server.employee("ann"), "ben": server.employee("ben")}
    for n in range(CONVERSATIONS):
        tokens[f"p{n}"] = server.employee(f"p{n}", name=f"Person {n}")
    trio.run(_populate, server, tokens, 0)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(rounds):
            _open_list(browser, server, tokens["ann"]).context.close()
        browser.close()
    trio.from_thread.run_sync(server.app.request_shutdown, trio_token=server.token)


def main() -> None:
    if "--list-only" in sys.argv:
        rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 1
        list_only(rounds)
        return
    server = WebServer(os.path.join(tempfile.mkdtemp(), "data"))
    started: queue.Queue = queue.Queue()
    threading.Thread(target=_serve, args=(server, started), daemon=True).start()
    assert started.get(timeout=30) is None
    tokens = {"ann": server.employee("ann"), "ben": server.employee("ben")}
    for n in range(CONVERSATIONS):
        tokens[f"p{n}"] = server.employee(f"p{n}", name=f"Person {n}")
    t = time.monotonic()
    trio.run(_populate, server, tokens)
    print(f"populated {CONVERSATIONS} conversations and {MESSAGES} messages "
          f"in {time.monotonic() - t:.1f} s")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = _open_list(browser, server, tokens["ann"])
        cdp = page.context.new_cdp_session(page)
        cdp.send("HeapProfiler.collectGarbage")
        print(f"after the list: {_renderer_memory()}")
        page.locator(".conv", has_text="ben").first.click()
        page.locator(".message").first.wait_for()
        result = page.evaluate(SCROLL_ALL, MESSAGES)
        cdp.send("HeapProfiler.collectGarbage")
        cdp.send("Performance.enable")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        print(f"scrolled through {result['messages']} messages in {result['ms'] / 1000:.1f} s "
              f"({result['inPage']} in the page at the end): "
              f"JS heap {metrics['JSHeapUsedSize'] / 1048576:.0f} MB, "
              f"{metrics['Nodes']:.0f} DOM nodes, "
              f"{_renderer_memory()}")
        browser.close()
    trio.from_thread.run_sync(server.app.request_shutdown, trio_token=server.token)


if __name__ == "__main__":
    main()
