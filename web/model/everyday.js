// Everyday messaging (revision 1.5, docs/protocol.md §31) as the person uses it:
// mentions, replies, edits, reactions, forwarding, the group notice, pins and mute.
// The frames' events change the chats' messages in place; the views show them.

import { CLIENT } from "../proto/frames.js";
import { newClientMsgId } from "../proto/client.js";

export const hasEveryday = Object.hasOwn(CLIENT, "react") && Object.hasOwn(CLIENT, "edit");

export const EDIT_MS = 24 * 3600 * 1000;  // the server's default edit_window_s (§31.9)
export const MAX_FORWARD = 100;  // the server's default max_forward (§31.9)
export const QUICK_EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "✅"];
const MENTION_RE = /(^|[\s(])@([a-z0-9][a-z0-9._-]*)/giu;

/** The handles a text mentions among `members` (and "all" when allowed), for `send.mentions`. */
export function mentionsIn(text, members, mayAll) {
  const handles = new Set(members);
  const found = new Set();
  for (const m of text.matchAll(MENTION_RE)) {
    const handle = m[2].toLowerCase();
    if (handle === "all" && mayAll) return ["all"];
    if (handles.has(handle)) found.add(handle);
  }
  return [...found];
}

/** The "@prefix" being typed just before the caret, or null. */
export function mentionAt(text, caret) {
  const m = /(^|\s)@([\p{L}\p{N}._-]*)$/u.exec(text.slice(0, caret));
  return m ? { start: caret - m[2].length - 1, prefix: m[2].toLowerCase() } : null;
}

export class Everyday {
  constructor(app) {
    this.app = app;
    this.pins = new Map();  // conv → {pins: [{seq, by, time}], notice}
    this.notices = new Map();  // conv → the group notice's message, when not in the chat's pages
    this.replyTo = null;  // the message the composer answers, or null
    this.editing = null;  // the message the composer edits, or null
  }

  get client() { return this.app.client; }

  // ----- the composer: reply and edit -----

  startReply(m) {
    this.editing = null;
    this.replyTo = m;
    this.app.emit("compose");
  }

  startEdit(m) {
    this.replyTo = null;
    this.editing = m;
    this.app.emit("compose");
  }

  cancelCompose() {
    this.replyTo = this.editing = null;
    this.app.emit("compose");
  }

  canEdit(m) {
    return m.from === this.app.user && !m.recalled && m.kind === undefined && !m.notice
      && Date.now() - Number(m.time) < EDIT_MS && this.app.convs.get(m.conv)?.kind !== "announce";
  }

  async edit(m, text) {
    this.editing = null;
    this.app.emit("compose");
    if (text.trim() === m.text || !text.trim()) return;
    await this.app.ask({ type: "edit", conv: m.conv, seq: m.seq, text }, "Edit");
  }

  /** The members one can mention in a conversation: handles (a direct chat: the peer). */
  mentionable(conv) {
    const row = this.app.convs.get(conv);
    if (row?.kind === "direct") return row.peer && row.peer !== this.app.user ? [row.peer] : [];
    const g = this.app.people.groups.get(conv);
    return g ? g.members.map((x) => x.user).filter((u) => u !== this.app.user) : [];
  }

  mayMentionAll(conv) {
    const role = this.app.people.myRole(conv);
    return role === "owner" || role === "admin";
  }

  // ----- events (each also in sync pages) -----

  edited(e) {
    const chat = this.app.chats.get(e.conv);
    const m = chat?.bySeq.get(e.seq);
    if (m) {
      const next = { ...m, text: e.text, edited_at: e.edited_at, version: e.version };
      if (e.attachments) next.attachments = e.attachments;  // 1.8: the version's files
      chat.bySeq.set(e.seq, next);
      chat.dirty = true;
      this.app.emit("chat", { conv: e.conv, changed: e.seq });
    }
    const row = this.app.convs.get(e.conv);
    if (row?.last?.seq === e.seq) {
      row.last = { ...row.last, text: e.text, version: e.version };
      this.app.emit("convs");
    }
  }

  reaction(e) {
    const chat = this.app.chats.get(e.conv);
    const m = chat?.bySeq.get(e.seq);
    if (!m) return;
    const mine = new Set(m.reacted || []);
    for (const c of e.changes || []) {
      if (c.user !== this.app.user) continue;
      if (c.on) mine.add(c.emoji);
      else mine.delete(c.emoji);
    }
    chat.bySeq.set(e.seq, { ...m, reactions: e.reactions, reacted: [...mine].filter((x) => e.reactions[x]) });
    chat.dirty = true;
    this.app.emit("chat", { conv: e.conv, changed: e.seq });
  }

  mute(e) {
    const row = this.app.convs.get(e.conv);
    if (!row) return;
    row.mutedUntil = e.muted ? (e.until ?? 0) : null;
    this.app.emit("convs");
  }

  /** A pin or unpin system message: the pinned list changed. */
  systemMessage(m) {
    if ((m.event === "pin" || m.event === "unpin") && this.pins.has(m.conv)) this.loadPins(m.conv);
  }

  // ----- reactions -----

  async react(m, emoji) {
    const on = !(m.reacted || []).includes(emoji);
    await this.app.ask({ type: "react", conv: m.conv, seq: m.seq, emoji, on }, "Reaction");
  }

  /** Who reacted with each emoji of a message: [{emoji, users, count}]. */
  async whoReacted(m) {
    const emoji = Object.keys(m.reactions || {});
    return Promise.all(emoji.map(async (e) => {
      const r = await this.app.ask({ type: "reactions.list", conv: m.conv, seq: m.seq, emoji: e, limit: 100 }, "Reactions");
      return { emoji: e, users: r?.users || [], count: Number(r?.count ?? 0), more: !!r?.more };
    }));
  }

  // ----- forwarding -----

  /** Forward messages to each target conversation; resolves with how many copies went. */
  async forward(fromConv, seqs, targets) {
    if (seqs.length > MAX_FORWARD) {
      this.app.toast(`At most ${MAX_FORWARD} messages go in one forward.`, "error");
      return 0;
    }
    let sent = 0;
    for (const to of targets) {
      const r = await this.app.ask({ type: "forward", client_msg_id: newClientMsgId(), from_conv: fromConv,
        seqs, to_conv: to }, "Forward");
      if (r) sent += 1;
    }
    if (sent) this.app.toast(`Forwarded to ${sent} conversation${sent === 1 ? "" : "s"}.`);
    return sent;
  }

  /** Conversations one may forward into: current, not the notice board. */
  targets() {
    return this.app.convs.sorted().filter((r) => !r.left && r.kind !== "announce");
  }

  /** Choosing several messages of a chat to forward at once (`forward.seqs`, in order). */
  startSelect(m) {
    this.selecting = { conv: m.conv, seqs: new Set([m.seq]) };
    this.app.emit("select");
  }

  toggleSelect(m, on) {
    if (!this.selecting) return;
    if (on) this.selecting.seqs.add(m.seq);
    else this.selecting.seqs.delete(m.seq);
    this.app.emit("select");
  }

  endSelect() {
    if (!this.selecting) return;
    this.selecting = null;
    this.app.emit("select");
  }

  // ----- the group notice and pins -----

  async postNotice(conv, text) {
    const ok = await this.app.ask({ type: "group.notice", conv, text }, "Group notice");
    if (ok) this.app.toast("Notice posted. Members confirm it by reading it.");
    return ok;
  }

  /** Confirm a notice: it is read (the receipt machinery, §31.7), and so is what the
   *  open chat shows after it. */
  async confirm(m) {
    const row = this.app.convs.get(m.conv);
    if (!row || row.read >= m.seq) return;
    this.app.convs.markRead(m.conv, m.seq);
    this.app.emit("convs");
    this.app.emit("chat", { conv: m.conv, changed: m.seq });
    await this.app.ask({ type: "read", conv: m.conv, seq: m.seq }, "Confirm");
    this.app.markSeen();
  }

  /** The group's current notice: from the chat's pages, else asked once (it may be old). */
  notice(conv) {
    const row = this.app.convs.get(conv);
    if (!row?.notice) return null;
    const m = this.app.chats.get(conv)?.bySeq.get(row.notice) || this.notices.get(conv);
    if (m?.seq === row.notice) return m;
    if (this.noticeAsked !== `${conv}:${row.notice}`) {
      this.noticeAsked = `${conv}:${row.notice}`;
      this.message(conv, row.notice).then((found) => {
        if (!found) return;
        this.notices.set(conv, found);
        this.app.emit("pins", conv);  // the header shows it
        this.app.markSeen();
      });
    }
    return null;
  }

  async loadPins(conv) {
    const r = await this.client.request({ type: "pins", conv }).catch(() => null);
    if (!r) return null;
    const pins = { pins: r.pins, notice: r.notice ?? null };
    this.pins.set(conv, pins);
    const row = this.app.convs.get(conv);
    if (row && r.notice !== undefined) row.notice = r.notice;
    this.app.emit("pins", conv);
    return pins;
  }

  pinned(conv, seq) {
    return !!this.pins.get(conv)?.pins.some((p) => p.seq === seq);
  }

  canPin(conv) {
    const row = this.app.convs.get(conv);
    if (!row || row.left || row.kind === "announce") return false;
    if (row.kind !== "group") return true;
    const role = this.app.people.myRole(conv);
    return role === "owner" || role === "admin";
  }

  async togglePin(m) {
    const type = this.pinned(m.conv, m.seq) ? "unpin" : "pin";
    if (await this.app.ask({ type, conv: m.conv, seq: m.seq }, type === "pin" ? "Pin" : "Unpin")) {
      await this.loadPins(m.conv);
    }
  }

  /** A message of a conversation by seq: from the chat, else one history page that ends with it. */
  async message(conv, seq) {
    const chat = this.app.chat(conv);
    if (chat.bySeq.has(seq)) return chat.bySeq.get(seq);
    const page = await this.client.request({ type: "history", conv, before: seq + 1, limit: 1 }).catch(() => null);
    return page?.msgs.find((m) => m.seq === seq) || null;
  }

  // ----- mute -----

  muted(row) {
    if (!row || row.mutedUntil === null || row.mutedUntil === undefined) return false;
    return Number(row.mutedUntil) === 0 || Number(row.mutedUntil) > Date.now();
  }

  async setMute(conv, minutes) {
    const frame = { type: "conv.mute", conv };
    if (minutes === 0) frame.until = 0;  // a time not in the future: unmute
    else if (minutes > 0) frame.until = Date.now() + minutes * 60000;
    if (await this.app.ask(frame, "Mute")) {
      this.app.toast(minutes === 0 ? "Notifications are on again." : "Muted: no notifications from this chat.");
    }
  }
}
