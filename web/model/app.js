// The application's view model: it owns the protocol client, turns frames into
// state the views show (plain objects) and offers the actions a person takes.
// Views subscribe to topics: "state", "convs", "chat", "quiet", "people", "toast", "panel".

import { ProtocolClient, requestBeforeHello } from "../proto/client.js";
import { CLIENT } from "../proto/frames.js";
import { deviceKey } from "../proto/store.js";
import { ChatModel, ConversationList, PAGE, isText } from "./chats.js";
import { MediaUrls, hasMedia, upload } from "./media.js";
import { People } from "./people.js";
import { describeQuiet, isResting } from "./quiet.js";
import { ERROR_TEXT, HANDLERS, deviceName } from "./events.js";
import { Everyday, hasEveryday, mentionsIn } from "./everyday.js";

export { ERROR_TEXT };

export class AppModel {
  constructor({ store, url, origin, notifier }) {
    Object.assign(this, { store, url, origin, notifier });
    this.listeners = new Map();
    this.convs = new ConversationList();
    this.chats = new Map();
    this.people = new People(this);
    this.everyday = new Everyday(this);
    this.hasEveryday = hasEveryday;
    this.openConv = null;  // the conversation shown, or {draftTo: handle} before its first message
    this.state = "signed_out";
    this.user = null;
    this.welcome = null;
    this.quiet = null;
    this.employee = false;
    this.cannotAnnounce = false;
    this.caughtUpOnce = false;
    this.pendingUnread = [];
    this.hasMedia = hasMedia;
    this.mediaUrls = new MediaUrls(this);
    this.sentMedia = new Map();  // media id → the upload's answer (name, size, kind, …)
    this.uploads = [];  // {file, progress, media, error}: the composer's files before sending
  }

  /** Upload files for the next message; the composer shows each with its progress. */
  async attach(files) {
    if (!this.hasMedia) return;
    await Promise.all([...files].map(async (file) => {
      const item = { file, progress: 0, media: null, error: null };
      this.uploads.push(item);
      this.emit("uploads");
      try {
        item.media = await upload(this.client.token, file, (p) => { item.progress = p; this.emit("uploads"); });
      } catch (e) {
        item.error = e.message;
        this.toast(`${file.name}: ${e.message}`, "error");
      }
      this.emit("uploads");
    }));
  }

  dropUpload(item) {
    this.uploads = this.uploads.filter((u) => u !== item);
    this.emit("uploads");
  }

  on(topic, fn) {
    if (!this.listeners.has(topic)) this.listeners.set(topic, new Set());
    this.listeners.get(topic).add(fn);
  }

  emit(topic, detail) {
    for (const fn of this.listeners.get(topic) || []) fn(detail);
  }

  toast(text, kind = "info") { this.emit("toast", { text, kind }); }

  // ----- signing in -----

  async start() {
    const session = await this.store.get("session");
    if (session?.token) await this.signIn(session.token, session.user);
    else this.setState("signed_out");
  }

  async signIn(token, user = null) {
    if (this.client) this.client.close();
    await this.store.put("session", { token, user });
    this.client = new ProtocolClient({
      url: this.url, token, store: this.store, keyFor: (u) => deviceKey(this.origin, u), device: deviceName(),
      onEvent: (f) => this.event(f), onState: (s) => this.connectionState(s),
    });
    if (user) await this.client.load(user);
    this.client.connect();
  }

  /** What this server speaks of sign-in (revision 1.3, §29): password, invite, devices. */
  get canSignIn() {
    return Object.hasOwn(CLIENT, "login") && Object.hasOwn(CLIENT, "redeem");
  }

  /** `login` (handle and password) or `redeem` (an invite): a device token, then `hello`. */
  async signInWith(frame) {
    const reply = await requestBeforeHello(this.url, { ...frame, device: deviceName() });
    await this.signIn(reply.token);
    this.tokenId = reply.token_id;
  }

  async devices() {
    return (await this.ask({ type: "devices" }, "Devices"))?.devices || [];
  }

  async revoke(device) {
    if (device.current) return this.signOut();
    return this.ask({ type: "device.revoke", token_id: device.token_id }, "Sign out device");
  }

  async changePassword(old, fresh) {
    const frame = { type: "password.change", new: fresh };
    if (old) frame.old = old;
    const ok = await this.ask(frame, "Password");
    if (ok) this.toast("Password changed. Your other devices are signed out.");
    return ok;
  }

  async signOut() {
    if (this.client && this.canSignIn) {
      // Signing out ends this device's token on the server too (§29.3).
      const mine = (await this.devices()).find((d) => d.current);
      if (mine) await this.ask({ type: "device.revoke", token_id: mine.token_id }, "Sign out");
    }
    if (this.client) this.client.close();
    this.client = null;
    await this.store.put("session", undefined);
    location.hash = "";
    location.reload();
  }

  connectionState(s) {
    if (s === "stopped" && this.client?.lastClose === 4001) {
      this.store.put("session", undefined);
      this.setState("signed_out");
      this.toast("Sign-in failed: the token is not valid (or was revoked).", "error");
      return;
    }
    this.setState(s);
  }

  setState(s) {
    this.state = s;
    this.emit("state", s);
  }

  // ----- frames -----

  event(f) {
    const handler = HANDLERS[f.type];
    if (handler) handler.call(this, f);
  }

  async welcomed(w) {
    this.welcome = w;
    this.employee = w.announce_conv !== undefined;
    this.quiet = w.quiet || null;
    if (this.user !== w.user) {
      this.user = w.user;
      const session = await this.store.get("session");
      await this.store.put("session", { ...session, user: w.user });
    }
    this.pendingUnread = w.unread || [];
    this.emit("quiet", this.quiet);
  }

  async caughtUp(unread) {
    this.pendingUnread = unread;
    await this.loadConversations();
    if (!this.caughtUpOnce) {
      this.caughtUpOnce = true;
      this.people.start();
      this.people.want(this.user);
    }
    const open = this.openConv;
    if (open && !open.draftTo) this.reloadChat(open);
  }

  async loadConversations() {
    performance.mark("conversations-asked");  // for tests/web/bench.py
    const reply = await this.client.request({ type: "conversations", limit: 500 });
    performance.mark("conversations-answered");
    for (const c of reply.convs) this.convs.upsert(c);
    this.convs.setUnread(this.pendingUnread);
    this.emit("convs");
    this.fillPreviews(reply.convs);
  }

  /** The last message of each listed conversation, for the list's previews: a 1.9 server
   *  sends them with the list (`conv.last`); an older one is asked `history` of 1 each. */
  async fillPreviews(convs) {
    await Promise.all(convs.filter((c) => c.last_seq > 0 && !c.last && !this.convs.get(c.conv).last)
      .map((c) => this.client.request({ type: "history", conv: c.conv, limit: 1 })
        .then((p) => { for (const m of p.msgs) this.convs.touch(m, this.user); }, () => {})));
    this.emit("convs");
    await afterPaint();  // the peers' names below may follow: the list is painted first
    for (const row of this.convs.byConv.values()) {
      if (row.kind === "direct" && row.peer) this.people.want(row.peer);
    }
  }

  msg(m) {
    const row = this.convs.touch(m, this.user);
    if (row.kind === "direct" && row.peer) this.people.want(row.peer);
    const chat = this.chats.get(m.conv);
    if (chat) {
      chat.add(m);
      if (m.client_msg_id) chat.local.delete(m.client_msg_id);
      chat.typing.delete(m.from);
    }
    if (m.kind === "system") {
      this.people.systemMessage(m);
      this.everyday.systemMessage(m);
    }
    if (m.kind === "system" && m.event === "recall" && m.ref !== undefined) this.recalled(m.conv, m.ref);
    this.emit("convs");
    if (chat) this.emit("chat", { conv: m.conv, added: m });
    if (this.openConv?.conv === m.conv) this.markSeen();
    this.maybeNotify(m, row);
  }

  /** A recall's system message names the message it withdrew: show that one as a tombstone. */
  recalled(conv, seq) {
    const chat = this.chats.get(conv);
    const original = chat?.bySeq.get(seq);
    if (original) {
      chat.bySeq.set(seq, { ...original, recalled: true, text: "" });
      chat.dirty = true;
    }
    const row = this.convs.get(conv);
    if (row?.last?.seq === seq) row.last = { ...row.last, recalled: true, text: "" };
  }

  maybeNotify(m, row) {
    if (m.from === this.user || !isText(m) || m.silent) return;
    if (this.everyday.muted(row) && !m.mentioned && !m.urgent) return;  // the server marks these silent too
    if (isResting(this.quiet, Date.now()) && !m.urgent) return;
    this.notifier?.notify({ title: this.people.display(m.from, m), body: m.text, conv: m.conv,
      tag: `conv-${m.conv}`, convName: row?.name });
  }

  // ----- opening a chat -----

  chat(conv) {
    if (!this.chats.has(conv)) this.chats.set(conv, new ChatModel(conv));
    return this.chats.get(conv);
  }

  async open(conv) {
    this.openConv = { conv };
    const chat = this.chat(conv);
    this.emit("open", this.openConv);
    if (chat.bySeq.size === 0) await this.loadOlder(conv);
    this.markSeen();
    const row = this.convs.get(conv);
    if (row?.kind === "group") this.people.loadGroup(conv);
    if (this.hasEveryday && row && row.kind !== "announce" && !row.left) this.everyday.loadPins(conv);
  }

  /** Full-text search (revision 1.6, §32): one page of hits, newest first. */
  get hasSearch() {
    return Object.hasOwn(CLIENT, "search");
  }

  search(query, cursor = null) {
    const frame = { type: "search", query, limit: 20 };
    if (cursor) frame.cursor = cursor;
    return this.client.request(frame);
  }

  /** Open a conversation at one message (a search hit): load back to it, then show it. */
  async openAt(conv, seq) {
    await this.open(conv);
    const chat = this.chat(conv);
    for (let pages = 0; (chat.oldest === null || chat.oldest > seq) && chat.more && pages < 50; pages++) {
      await this.loadOlder(conv);
    }
    this.emit("focus", { conv, seq });
  }

  /** A direct chat with someone we have no conversation with yet: the first send creates it. */
  openDirect(handle) {
    for (const row of this.convs.byConv.values()) {
      if (row.kind === "direct" && row.peer === handle) return this.open(row.conv);
    }
    this.openConv = { draftTo: handle };
    this.people.want(handle);
    this.emit("open", this.openConv);
    return null;
  }

  async reloadChat(open) {
    const chat = this.chat(open.conv);
    const newest = chat.last()?.seq ?? 0;
    const row = this.convs.get(open.conv);
    if (row && row.lastSeq > newest) {
      const p = await this.client.request({ type: "history", conv: open.conv, limit: PAGE });
      for (const m of p.msgs) chat.add(m);
      this.emit("chat", { conv: open.conv, reset: true });
    }
  }

  async loadOlder(conv) {
    const chat = this.chat(conv);
    if (chat.loading || !chat.more) return;
    chat.loading = true;
    try {
      const frame = { type: "history", conv, limit: PAGE };
      if (chat.oldest !== null) frame.before = chat.oldest;
      const page = await this.client.request(frame);
      for (const m of page.msgs) chat.add(m);
      chat.more = page.more;
      this.emit("chat", { conv, older: page.msgs.length });
    } catch (e) {
      this.toast(`Could not load history: ${e.code}`, "error");
    } finally {
      chat.loading = false;
    }
  }

  /** The open chat is on screen: move the read cursor to its newest message. */
  markSeen() {
    const conv = this.openConv?.conv;
    if (conv === undefined || document.hidden) return;
    const row = this.convs.get(conv);
    const chat = this.chat(conv);
    let newest = chat.last()?.seq ?? row?.lastSeq ?? 0;
    let left = 0;
    const notice = row?.notice && row.kind === "group" ? this.everyday.notice(conv) : null;
    if (notice && notice.from !== this.user && notice.seq > row.read && notice.seq <= newest) {
      // A group notice is confirmed by reading it (§31.7): not by opening the chat, by "Confirm".
      left = chat.list().filter((m) => m.seq >= notice.seq && isText(m) && m.from !== this.user).length
        + (chat.bySeq.has(notice.seq) ? 0 : 1);
      newest = notice.seq - 1;
    }
    if (!row || newest <= row.read && row.unread === left) return;
    this.convs.markRead(conv, newest, left);
    this.emit("convs");
    this.client.request({ type: "read", conv, seq: newest }).catch(() => {});
  }

  // ----- sending -----

  send(text, { receipt = false, urgent = false } = {}) {
    const open = this.openConv;
    if (this.everyday.editing) return this.everyday.edit(this.everyday.editing, text);
    const files = this.uploads.filter((u) => u.media).map((u) => ({ media: u.media.media }));
    if (!open || (!text.trim() && !files.length)) return;
    if (this.uploads.some((u) => !u.media && !u.error)) {
      this.toast("Wait for the uploads to finish.");
      return;
    }
    const row = open.conv !== undefined ? this.convs.get(open.conv) : null;
    const announce = row?.kind === "announce";
    const fields = { text };
    if (open.draftTo) fields.to = open.draftTo;
    else if (!announce) fields.conv = open.conv;
    if (receipt) fields.receipt = true;
    if (urgent) fields.urgent = true;
    if (this.hasEveryday && open.conv !== undefined && !announce) this.addEveryday(fields, open.conv, text);
    if (files.length) {
      for (const u of this.uploads) if (u.media) this.sentMedia.set(u.media.media, u.media);
      fields.attachments = files;
      this.uploads = [];
      this.emit("uploads");
    }
    const id = this.client.sendMessage(fields, announce ? "announce" : "send");
    const frame = this.client.unacked.get(id);
    if (open.conv !== undefined) {
      this.chat(open.conv).local.set(id, { frame, state: "sending", time: Date.now() });
      this.emit("chat", { conv: open.conv, local: id });
    } else {
      this.draftLocal = { id, frame, state: "sending", time: Date.now() };
      this.emit("open", open);
    }
  }

  /** A send's 1.5 fields: whom it mentions, what it answers. */
  addEveryday(fields, conv, text) {
    const ed = this.everyday;
    const mentions = text.includes("@") ? mentionsIn(text, ed.mentionable(conv), ed.mayMentionAll(conv)) : [];
    if (mentions.length) fields.mentions = mentions;
    if (ed.replyTo && ed.replyTo.conv === conv) {
      fields.reply_to = ed.replyTo.seq;
      this.quoted ??= new Map();
      this.quoted.set(`${conv}:${ed.replyTo.seq}`, ed.replyTo);
      ed.cancelCompose();
    }
  }

  ack(a) {
    const chat = this.chat(a.conv);
    const local = chat.local.get(a.client_msg_id)
      || (this.draftLocal?.id === a.client_msg_id ? this.draftLocal : null);
    const frame = local?.frame || this.client.unacked.get(a.client_msg_id) || {};
    chat.local.delete(a.client_msg_id);
    const m = { type: "msg", conv: a.conv, seq: a.seq, pos: a.pos, from: this.user, time: a.time,
      text: frame.text ?? "", client_msg_id: a.client_msg_id };
    if (frame.to) m.to = frame.to;
    if (frame.receipt) m.receipt = true;
    if (frame.urgent) m.urgent = true;
    if (frame.mentions) m.mentions = frame.mentions;
    if (frame.reply_to !== undefined) {  // the quote as the others see it: the original's snapshot
      const original = this.quoted?.get(`${a.conv}:${frame.reply_to}`) || chat.bySeq.get(frame.reply_to);
      m.reply_to = frame.reply_to;
      if (original) m.quote = { seq: original.seq, from: original.from, text: Array.from(original.text || "").slice(0, 100).join("") };
    }
    if (frame.attachments) {  // as the others will see them: from the uploads' answers
      m.attachments = frame.attachments.map((a) => ({ type: "media", ...this.sentMedia.get(a.media), media: a.media }));
      m.kind = m.attachments.every((x) => x.kind === "image") ? "image" : "file";
    }
    if (!chat.bySeq.has(a.seq)) chat.add(m);
    this.convs.touch(chat.bySeq.get(a.seq), this.user);
    this.convs.markRead(a.conv, Math.max(a.seq, this.convs.get(a.conv).read));
    if (a.recipient_resting_until) this.people.restingUntil(frame.to, a.recipient_resting_until);
    if (this.openConv?.draftTo && this.draftLocal?.id === a.client_msg_id) {
      this.draftLocal = null;
      this.open(a.conv);
    }
    this.emit("convs");
    this.emit("chat", { conv: a.conv, acked: a.client_msg_id });
  }

  sendFailed(f) {
    for (const chat of this.chats.values()) {
      const local = chat.local.get(f.client_msg_id);
      if (local) {
        local.state = "failed";
        local.code = f.code;
        this.emit("chat", { conv: chat.conv, local: f.client_msg_id });
      }
    }
    if (f.code === "forbidden" && f.frame.type === "announce") {
      this.cannotAnnounce = true;  // not a company admin: the board is read-only for them
      if (this.openConv) this.emit("open", this.openConv);
    }
    this.toast(`Not sent: ${ERROR_TEXT[f.code] || f.message}`, "error");
  }

  retry(conv, clientMsgId) {
    const local = this.chat(conv).local.get(clientMsgId);
    if (!local) return;
    local.state = "sending";
    this.client.retryMessage(local.frame);
    this.emit("chat", { conv, local: clientMsgId });
  }

  typingNow() {
    const conv = this.openConv?.conv;
    const row = conv !== undefined ? this.convs.get(conv) : null;
    if (!row || row.kind === "announce") return;
    const now = Date.now();
    if (now - (this.lastTyping || 0) < 3000) return;  // the server drops more than 1/s anyway
    this.lastTyping = now;
    this.client.notify({ type: "typing", conv });
  }

  async recall(conv, seq) {
    try {
      await this.client.request({ type: "recall", conv, seq });
    } catch (e) {
      this.toast(`Could not recall: ${ERROR_TEXT[e.code] || e.message}`, "error");
    }
  }

  /** Ask a server request and report its error as a toast; returns the reply or null. */
  async ask(frame, what) {
    try {
      return await this.client.request(frame);
    } catch (e) {
      this.toast(`${what}: ${ERROR_TEXT[e.code] || e.message}`, "error");
      return null;
    }
  }

  // ----- receipts -----

  async receipts(conv, seq, { again = false } = {}) {
    const chat = this.chat(conv);
    chat.asked ??= new Set();
    if (chat.asked.has(seq) && !again) return null;
    chat.asked.add(seq);
    const r = await this.ask({ type: "receipts", conv, seq, limit: 500 }, "Receipts");
    if (r) {
      this.chat(conv).receipts.set(seq, { readCount: r.read_count, unreadCount: r.unread_count });
      this.emit("chat", { conv, receipts: seq });
    }
    return r;
  }

  receiptEvent(e) {
    const chat = this.chats.get(e.conv);
    const known = chat?.receipts.get(e.seq);
    if (known) {
      const n = Math.min(e.readers.length, known.unreadCount);
      known.readCount += n;
      known.unreadCount -= n;
    }
    if (chat) this.emit("chat", { conv: e.conv, receipts: e.seq });
    if (known === undefined && chat) this.receipts(e.conv, e.seq, { again: true });
  }

  async remind(conv, seq) {
    const ok = await this.ask({ type: "remind", conv, seq }, "Reminder");
    if (ok) this.toast("Reminder sent to everyone who has not read it.");
  }

  // ----- quiet hours -----

  quietEvent(q) {
    this.quiet = q.quiet;
    this.emit("quiet", this.quiet);
  }

  async takeBreak(minutes) {
    if (await this.ask({ type: "quiet.break", minutes }, "Take a break")) {
      this.toast(`Taking a break: ${describeQuiet(this.quiet)}`);
    }
  }

  async resume() {
    await this.ask({ type: "quiet.resume" }, "Resume");
  }

  async setQuiet(fields) {
    const ok = await this.ask({ type: "quiet.set", ...fields }, "Quiet hours");
    if (ok) this.toast("Quiet hours saved.");
    return ok;
  }
}

/** Resolves once the next frame is painted (or soon, in a hidden tab, which paints none). */
function afterPaint() {
  return new Promise((resolve) => {
    requestAnimationFrame(() => setTimeout(resolve, 0));
    setTimeout(resolve, 200);
  });
}
