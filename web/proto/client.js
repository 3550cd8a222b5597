// The protocol client: one device's connection to the server, with the resume
// algorithm of docs/protocol.md §8.3, reconnects (§12), replies matched by `re`
// (§4), and paced re-sends of unacked messages (§8.3, "Pacing re-sends").
// No DOM: it needs only WebSocket, timers and a store (store.js).

import { ProtocolError, decodeFrame, encodeFrame } from "./frames.js";

export const SUBPROTOCOL = "corpchat.v1";
const RECONNECT = new Set([1001, 1005, 1006, 1008, 1011, 4000, 4002, 4003]);  // §12; 1005/1006: no close frame
const KEEP = new Set(["storage_unavailable", "internal_error", "rate_limited"]);
const RESEND_WINDOW = 64;
const BUCKET = { burst: 300, perSecond: 150 };  // the server's 400 / 200, with a margin
const BACKOFF = { firstMs: 500, maxMs: 30000, resetAfterMs: 10000 };

export function shouldReconnect(code) {
  return code == null || RECONNECT.has(code);
}

// Frames that take a position in the user's stream: each moves the sync token (§8.3, §31.1).
const STREAMED = new Set(["msg", "edited", "reaction", "mute"]);

/** A sync page's messages and events (1.5: `edited`, `reaction`, `mute`), merged by `pos`. */
function streamItems(p) {
  const items = [...p.msgs];
  for (const type of ["edited", "reaction", "mute"]) {
    for (const e of p[type] || []) items.push({ ...e, type });
  }
  return items.sort((a, b) => (BigInt(a.pos) < BigInt(b.pos) ? -1 : BigInt(a.pos) > BigInt(b.pos) ? 1 : 0));
}

function posOf(token) {
  return token == null ? -1n : BigInt(token);
}

export function newClientMsgId() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A token bucket on our side, so that the server's never refuses us (§8.3 rule 2). */
class Pacer {
  constructor(now) {
    this.now = now;
    this.tokens = BUCKET.burst;
    this.at = now();
    this.pausedUntil = 0;
  }

  refill() {
    const t = this.now();
    this.tokens = Math.min(BUCKET.burst, this.tokens + ((t - this.at) * BUCKET.perSecond) / 1000);
    this.at = t;
  }

  /** 0 when a frame may go now, else how long to wait (ms). */
  wait() {
    const t = this.now();
    if (t < this.pausedUntil) return this.pausedUntil - t;
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / BUCKET.perSecond);
  }

  take() { this.tokens -= 1; }

  pause(ms) {
    this.pausedUntil = this.now() + ms;
    this.tokens = 0;
  }
}

export class ProtocolClient {
  /**
   * url: the WebSocket URL; token: the bearer token; store/key: where the device state lives;
   * onEvent(frame): every event and processed msg/ack; onState(state): "connecting", "syncing",
   * "online", "offline" (will retry), "stopped" (will not: see lastClose).
   */
  constructor({ url, token, store, keyFor, device = "web", onEvent = () => {}, onState = () => {},
    WebSocketImpl = globalThis.WebSocket, now = () => Date.now() }) {
    Object.assign(this, { url, token, store, keyFor, device, onEvent, onState, WebSocketImpl, now });
    this.key = null;  // the device record's key: keyFor(user), known once a welcome names the user
    this.nextId = 1;
    this.pending = new Map();  // id → {resolve, reject, frame}
    this.unacked = new Map();  // client_msg_id → send frame, in the order first sent
    this.syncToken = null;
    this.state = "offline";
    this.user = null;
    this.welcome = null;
    this.queue = [];  // frames waiting for the pacer
    this.pumpTimer = null;
    this.attempt = 0;
    this.lastClose = null;
    this.stopped = false;
  }

  /** Load the device record of `user` (the last one signed in, before the first welcome). */
  async load(user) {
    this.key = this.keyFor(user);
    const saved = (await this.store.get(this.key)) || {};
    this.syncToken = saved.syncToken ?? null;
    for (const frame of saved.unacked || []) this.unacked.set(frame.client_msg_id, frame);
  }

  save() {
    if (this.key === null) return Promise.resolve();
    return this.store.put(this.key, { syncToken: this.syncToken, unacked: [...this.unacked.values()] });
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  // ----- connection -----

  connect() {
    this.stopped = false;
    clearTimeout(this.retryTimer);
    this.held = [];
    this.syncing = false;
    this.resend = [];
    this.resendInFlight = new Set();
    this.pacer = new Pacer(this.now);
    this.queue = [];
    this.setState("connecting");
    const ws = new this.WebSocketImpl(this.url, [SUBPROTOCOL]);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => this.hello();
    ws.onmessage = (e) => this.receive(ws, e.data);
    ws.onclose = (e) => this.closed(ws, e.code);
  }

  close(code = 1000) {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close(code);
  }

  /** Break the connection as a network loss would (tests, "reconnect now"). */
  drop() {
    const ws = this.ws;
    if (!ws) return;
    ws.close(4000);  // "resync required": a code we reconnect on
    // Gone now: with the network down the close handshake cannot finish, and the
    // browser's close event may come seconds later. (Its late event is ignored:
    // `closed` only acts for the current socket.)
    this.closed(ws, 4000);
  }

  hello() {
    const id = this.nextId++;
    this.pending.set(id, { resolve: (w) => this.welcomed(w), frame: null,
      reject: (e) => this.onEvent({ type: "error", code: e.code, message: e.message }) });
    this.write({ type: "hello", id, token: this.token, device: this.device, client: "corpchat-web" });
  }

  closed(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearTimeout(this.pumpTimer);
    this.lastClose = code;
    for (const [id, p] of this.pending) {
      p.reject(new ProtocolError("disconnected", "the connection closed before the reply"));
      this.pending.delete(id);
    }
    const upFor = this.now() - (this.upSince || this.now());
    if (upFor >= BACKOFF.resetAfterMs) this.attempt = 0;
    this.upSince = null;
    if (this.stopped || !shouldReconnect(code)) {
      this.setState("stopped");
      return;
    }
    this.setState("offline");
    // Full jitter: a random wait up to the doubled bound, so a restarted server is not stormed.
    const bound = Math.min(BACKOFF.maxMs, BACKOFF.firstMs * 2 ** this.attempt++);
    this.retryTimer = setTimeout(() => this.connect(), Math.random() * bound);
  }

  /** Reconnect at once (the browser came back online). */
  retryNow() {
    if (this.state === "offline") {
      clearTimeout(this.retryTimer);
      this.connect();
    }
  }

  // ----- the resume algorithm (§8.3) -----

  async welcomed(w) {
    this.welcome = w;
    this.user = w.user;
    this.upSince = this.now();
    if (this.key !== this.keyFor(w.user)) await this.load(w.user);  // another user than last time
    if (this.syncToken == null) {
      this.syncToken = w.sync;
      await this.save();
    }
    this.syncing = true;
    this.setState("syncing");
    this.onEvent(w);
    this.sync();
    this.resend = [...this.unacked.values()];
    this.fillResendWindow();
  }

  sync() {
    this.request({ type: "sync", since: this.syncToken, limit: 500 })
      .then((page) => this.page(page), (e) => this.syncFailed(e));
  }

  syncFailed(e) {
    if (e.code === "bad_sync_token") {
      // Our state is ahead of the server's (§8.1): start again as a new device.
      this.syncToken = null;
      this.save().then(() => this.drop());
    }
  }

  page(p) {
    for (const item of streamItems(p)) this.processMsg(item);
    if (posOf(p.sync) > posOf(this.syncToken)) this.syncToken = p.sync;
    this.save();
    if (p.more) {
      this.sync();
      return;
    }
    this.syncing = false;
    const held = this.held;
    this.held = [];
    for (const f of held) {
      if (f.type === "ack") this.processAck(f);
      else this.processMsg(f);
    }
    this.setState("online");
    this.onEvent({ type: "caught_up", unread: p.unread || [] });
  }

  /** A msg, or a 1.5 event that took a stream position (edited, reaction, mute: §31.1). */
  processMsg(m) {
    if (BigInt(m.pos) <= posOf(this.syncToken)) return;  // already seen
    this.syncToken = String(m.pos);
    this.save();
    this.onEvent(m);
  }

  processAck(a) {
    this.unacked.delete(a.client_msg_id);
    if (posOf(String(a.pos)) > posOf(this.syncToken)) this.syncToken = String(a.pos);
    this.save();
    this.onEvent(a);
  }

  fillResendWindow() {
    while (this.resend.length && this.resendInFlight.size < RESEND_WINDOW) {
      const frame = this.resend.shift();
      if (!this.unacked.has(frame.client_msg_id)) continue;
      this.resendInFlight.add(frame.client_msg_id);
      this.submit(frame);
    }
  }

  // ----- sending -----

  /** Send a text (or announce): kept in unacked until its ack; returns its client_msg_id. */
  sendMessage(fields, type = "send") {
    const frame = { type, id: 0, client_msg_id: newClientMsgId(), ...fields };
    this.unacked.set(frame.client_msg_id, frame);
    this.save();
    if (this.state === "online" || this.state === "syncing") this.submit(frame);
    return frame.client_msg_id;
  }

  /** Try a failed message again, with the same client_msg_id (safe: §7.4). */
  retryMessage(frame) {
    this.unacked.set(frame.client_msg_id, frame);
    this.save();
    if (this.state === "online" || this.state === "syncing") this.submit(frame);
  }

  submit(frame) {
    const id = this.nextId++;
    const sent = { ...frame, id };
    this.pending.set(id, {
      frame: sent,
      resolve: (ack) => this.acked(frame, ack),
      reject: (e) => this.sendRefused(frame, e),
    });
    this.write(sent);
  }

  acked(frame, ack) {
    this.resendInFlight.delete(frame.client_msg_id);
    if (ack.type !== "ack") {
      this.unacked.delete(frame.client_msg_id);  // a broadcast.done
      this.save();
      this.onEvent(ack);
    } else if (this.syncing) {
      this.held.push(ack);
    } else {
      this.processAck(ack);
    }
    this.fillResendWindow();
  }

  sendRefused(frame, e) {
    this.resendInFlight.delete(frame.client_msg_id);
    if (KEEP.has(e.code) || e.code === "disconnected") {
      if (e.code === "rate_limited" && this.ws) this.resend.unshift(frame);
    } else {
      this.unacked.delete(frame.client_msg_id);
      this.save();
      this.onEvent({ type: "send.failed", client_msg_id: frame.client_msg_id, code: e.code,
        message: e.message, frame });
    }
    this.fillResendWindow();
  }

  /** A request with a reply: resolves with the reply frame, rejects with its error. */
  request(frame) {
    return new Promise((resolve, reject) => {
      if (!this.ws || (this.state !== "online" && this.state !== "syncing")) {
        reject(new ProtocolError("disconnected", "not connected"));
        return;
      }
      const id = this.nextId++;
      const sent = { ...frame, id };
      this.pending.set(id, { resolve, reject, frame: sent });
      this.write(sent);
    });
  }

  /** A request without a reply when accepted (typing). */
  notify(frame) {
    if (this.state === "online") this.write({ ...frame, id: this.nextId++ });
  }

  write(frame) {
    this.queue.push(encodeFrame(frame));
    this.pump();
  }

  pump() {
    clearTimeout(this.pumpTimer);
    while (this.queue.length && this.ws && this.ws.readyState === 1) {
      const wait = this.pacer.wait();
      if (wait > 0) {
        this.pumpTimer = setTimeout(() => this.pump(), wait);
        return;
      }
      this.pacer.take();
      this.ws.send(this.queue.shift());
    }
  }

  // ----- receiving -----

  receive(ws, data) {
    if (ws !== this.ws) return;
    let f;
    try {
      f = decodeFrame(new Uint8Array(data), "server");
    } catch (e) {
      if (e.code === "unknown_type") return;  // §14: ignore frame types we do not know
      console.warn("unreadable frame from the server", e);
      return;
    }
    if (f.type === "error") this.error(f);
    else if (f.re !== undefined && this.pending.has(f.re)) this.reply(f);
    else if (this.syncing && STREAMED.has(f.type)) this.held.push(f);
    else if (STREAMED.has(f.type)) this.processMsg(f);
    else this.onEvent(f);
  }

  reply(f) {
    const p = this.pending.get(f.re);
    this.pending.delete(f.re);
    p.resolve(f);
  }

  error(e) {
    if (e.code === "rate_limited") {
      this.pacer.pause(Number(e.retry_after_ms ?? 1000));  // rule 3: nothing until it passes
      this.pump();
    }
    if (e.re === undefined || !this.pending.has(e.re)) {
      this.onEvent(e);
      return;
    }
    const p = this.pending.get(e.re);
    this.pending.delete(e.re);
    if (e.code === "rate_limited" && p.frame && !p.frame.client_msg_id) {
      this.write(p.frame);  // not processed: the same request again, once the pause is over
      this.pending.set(e.re, p);
      return;
    }
    const err = new ProtocolError(e.code, e.message);
    err.retryAfterMs = e.retry_after_ms;
    p.reject(err);
  }
}

/** One request sent instead of `hello` (`login`, `redeem`; §29.2) on a connection of its
 *  own: resolves with its reply (`logged_in`), rejects with its error. The caller then
 *  connects with the token it got, like any device. */
export function requestBeforeHello(url, frame, WebSocketImpl = globalThis.WebSocket) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocketImpl(url, [SUBPROTOCOL]);
    ws.binaryType = "arraybuffer";
    let settled = false;
    const finish = (fn, value) => {
      if (settled) return;
      settled = true;
      fn(value);
      ws.close(1000);
    };
    ws.onopen = () => ws.send(encodeFrame({ ...frame, id: 1 }));
    ws.onmessage = (e) => {
      let f;
      try {
        f = decodeFrame(new Uint8Array(e.data), "server");
      } catch (err) {
        finish(reject, err);
        return;
      }
      if (f.type === "error") {
        const err = new ProtocolError(f.code, f.message);
        err.retryAfterMs = f.retry_after_ms;
        finish(reject, err);
      } else if (f.re === 1) {
        finish(resolve, f);
      }
    };
    ws.onclose = () => finish(reject, new ProtocolError("disconnected", "the server closed the connection"));
  });
}
