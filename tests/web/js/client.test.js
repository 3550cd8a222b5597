// The protocol client against a scripted server (a fake WebSocket): the resume
// algorithm of §8.3, replies matched by `re`, and the pacing of re-sends.
// runClientTests() → {count, failures}; run in Chromium by tests/web/test_codec_browser.py.

import { ProtocolClient } from "../../../web/proto/client.js";
import { decodeFrame, encodeFrame } from "../../../web/proto/frames.js";
import { MemoryStore } from "../../../web/proto/store.js";

class FakeSocket {
  static last = null;
  constructor() {
    this.sent = [];
    this.readyState = 0;
    FakeSocket.last = this;
    queueMicrotask(() => { this.readyState = 1; this.onopen(); });
  }
  send(bytes) { this.sent.push(decodeFrame(bytes, "client")); }
  close(code) { this.readyState = 3; queueMicrotask(() => this.onclose({ code })); }
  deliver(frame) { this.onmessage({ data: encodeFrame(frame, "server").buffer }); }
  ofType(type) { return this.sent.filter((f) => f.type === type); }
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const LIMITS = { max_frame_bytes: 65536, max_text_chars: 4000, max_client_msg_id_chars: 64, max_page: 500 };

function msg(conv, seq, pos, text) {
  return { type: "msg", conv, seq, pos, from: "ben", time: 1, text };
}

async function connected(store = new MemoryStore(), events = []) {
  const client = new ProtocolClient({ url: "ws://x/", token: "cc_t", store, keyFor: (u) => `d:${u}`,
    WebSocketImpl: FakeSocket, onEvent: (f) => events.push(f) });
  client.connect();
  await tick();
  const ws = FakeSocket.last;
  const hello = ws.ofType("hello")[0];
  ws.deliver({ type: "welcome", re: hello.id, user: "ann", session: "s", server_time: 1, sync: "10", limits: LIMITS });
  await tick();
  return { client, ws, events, store };
}

const TESTS = {
  async "a new device adopts welcome.sync and syncs from it"() {
    const { ws } = await connected();
    const sync = ws.ofType("sync")[0];
    assert(sync.since === "10", `since ${sync.since}`);
  },

  async "live frames wait while syncing, and repeats at or below the token are dropped"() {
    const { ws, events } = await connected();
    const sync = ws.ofType("sync")[0];
    ws.deliver(msg(1, 3, 12, "live"));  // arrives before the page that also has it
    ws.deliver({ type: "sync.page", re: sync.id, msgs: [msg(1, 2, 11, "a"), msg(1, 3, 12, "live")], sync: "12", more: false });
    await tick();
    const texts = events.filter((f) => f.type === "msg").map((m) => m.text);
    assert(JSON.stringify(texts) === '["a","live"]', texts.join(","));
  },

  async "a page's 1.5 events are processed with its messages in stream order (§31.1)"() {
    const { ws, events, client } = await connected();
    const sync = ws.ofType("sync")[0];
    ws.deliver({ type: "edited", conv: 1, seq: 2, pos: 14, text: "a, edited", edited_at: 5, version: 1 });  // live, held
    ws.deliver({ type: "sync.page", re: sync.id, msgs: [msg(1, 2, 11, "a"), msg(1, 3, 13, "b")], sync: "14", more: false,
      edited: [{ type: "edited", conv: 1, seq: 2, pos: 14, text: "a, edited", edited_at: 5, version: 1 }],
      reaction: [{ type: "reaction", conv: 1, seq: 2, pos: 12, reactions: { "👍": 1 } }],
      mute: [{ type: "mute", conv: 1, pos: 10, muted: true }] });  // at the token: seen already
    await tick();
    const order = events.filter((f) => f.pos !== undefined).map((f) => `${f.type}@${f.pos}`);
    assert(JSON.stringify(order) === '["msg@11","reaction@12","msg@13","edited@14"]', order.join(","));
    ws.deliver({ type: "mute", conv: 1, pos: 15, muted: false });  // live, online: moves the token
    await tick();
    assert(client.syncToken === "15", `token ${client.syncToken}`);
  },

  async "the token survives a reconnect, from the store"() {
    const store = new MemoryStore();
    const { ws, client } = await connected(store);
    const sync = ws.ofType("sync")[0];
    ws.deliver({ type: "sync.page", re: sync.id, msgs: [msg(1, 2, 15, "a")], sync: "15", more: false });
    await tick();
    client.close();
    const again = await connected(store);
    assert(again.ws.ofType("sync")[0].since === "15", "resumed from the stored token");
  },

  async "replies are matched by re, not by arrival order"() {
    const { client, ws } = await connected();
    const a = client.request({ type: "ping" });
    const b = client.request({ type: "ping" });
    const [pa, pb] = ws.ofType("ping");
    ws.deliver({ type: "pong", re: pb.id, server_time: 2 });
    ws.deliver({ type: "pong", re: pa.id, server_time: 1 });
    assert((await a).server_time === 1 && (await b).server_time === 2, "matched");
  },

  async "unacked sends are re-sent with their client_msg_id after a reconnect, 64 at a time"() {
    const store = new MemoryStore();
    const first = await connected(store);
    first.client.close();
    await tick();
    for (let i = 0; i < 100; i++) first.client.sendMessage({ to: "ben", text: `m${i}` });
    const ids = [...first.client.unacked.keys()];
    const { ws } = await connected(store);
    const sends = ws.ofType("send");
    assert(sends.length === 64, `${sends.length} in the first window`);
    assert(sends[0].client_msg_id === ids[0], "first sent first");
    ws.deliver({ type: "ack", re: sends[0].id, conv: 1, seq: 1, pos: 20, time: 1, client_msg_id: ids[0], duplicate: false });
    await tick();
    assert(ws.ofType("send").length === 65, "one more after an answer");
  },

  async "a refused send is shown as failed, a rate-limited one is kept"() {
    const { client, ws, events } = await connected();
    const bad = client.sendMessage({ to: "nobody", text: "x" });
    const kept = client.sendMessage({ to: "ben", text: "y" });
    const [s1, s2] = ws.ofType("send");
    ws.deliver({ type: "error", re: s1.id, code: "no_such_user", message: "no" });
    ws.deliver({ type: "error", re: s2.id, code: "rate_limited", message: "slow", retry_after_ms: 5 });
    await tick();
    assert(events.some((e) => e.type === "send.failed" && e.client_msg_id === bad), "failed");
    assert(client.unacked.has(kept) && !client.unacked.has(bad), "kept the rate-limited one");
  },

  async "a duplicate ack never moves the token back"() {
    const { client, ws } = await connected();
    const sync = ws.ofType("sync")[0];
    ws.deliver({ type: "sync.page", re: sync.id, msgs: [], sync: "30", more: false });
    await tick();
    const id = client.sendMessage({ to: "ben", text: "again" });
    const s = ws.ofType("send")[0];
    ws.deliver({ type: "ack", re: s.id, conv: 1, seq: 1, pos: 5, time: 1, client_msg_id: id, duplicate: true });
    await tick();
    assert(client.syncToken === "30", client.syncToken);
  },

  async "closes it must not retry on are final"() {
    const { client, ws } = await connected();
    ws.close(4001);
    await tick();
    assert(client.state === "stopped", client.state);
  },
};

function assert(ok, what) {
  if (!ok) throw new Error(what);
}

export async function runClientTests() {
  const failures = [];
  for (const [name, test] of Object.entries(TESTS)) {
    try {
      await test();
    } catch (e) {
      failures.push(`${name}: ${e.message}`);
    }
  }
  return { count: Object.keys(TESTS).length, failures };
}
