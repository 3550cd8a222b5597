// How each server frame (and the protocol client's own notices) changes the
// view model, and the words for error codes. The handlers run with `this` the AppModel.

export function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? "Firefox" : /Edg\//.test(ua) ? "Edge"
    : /Chrom(e|ium)\//.test(ua) ? "Chromium" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const system = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS/.test(ua) ? "macOS"
    : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "a computer";
  return `${browser} on ${system}`;
}

export const ERROR_TEXT = {
  forbidden: "you are not allowed to do that",
  not_member: "you are not a member of this conversation",
  not_contact: "you are not connected with this person",
  no_such_user: "no such user",
  text_too_long: "the message is too long",
  quota_exceeded: "the daily quota is used up",
  remind_too_soon: "a reminder was sent less than 5 minutes ago",
  recall_expired: "messages can be recalled within 24 hours",
  group_full: "the group is full",
  not_found: "not found",
  bad_request: "the request was not valid",
  storage_unavailable: "the server could not store it; try again",
  disconnected: "not connected",
  exists: "it exists already",
  auth_failed: "wrong handle or password",
  rate_limited: "too many attempts; wait a little and try again",
  contact_limit: "the contact limit is reached",
  edit_expired: "messages can be edited within 24 hours",
  limit_reached: "the limit is reached",
  no_such_media: "a file is no longer available",
};

export const HANDLERS = {
  welcome(w) { this.welcomed(w); },
  caught_up(c) { this.caughtUp(c.unread); },
  msg(m) { this.msg(m); },
  ack(a) { this.ack(a); },
  "broadcast.done"(d) { this.people.broadcastDone(d); },
  "send.failed"(f) { this.sendFailed(f); },
  read(r) {
    if (this.convs.markRead(r.conv, r.seq)) this.emit("convs");
  },
  typing(t) {
    if (t.user === this.user) return;
    const chat = this.chat(t.conv);
    chat.typing.set(t.user, Date.now() + 6000);
    this.emit("chat", { conv: t.conv, typing: t.user });
  },
  receipt(e) { this.receiptEvent(e); },
  edited(e) { this.everyday.edited(e); },
  reaction(e) { this.everyday.reaction(e); },
  mute(e) { this.everyday.mute(e); },
  reminder(r) {
    const row = this.convs.get(r.conv);
    this.toast(`${this.people.display(r.from)} reminds you to read a message in ${row?.name || "a chat"}.`);
    if (!r.silent) this.notifier?.notify({ title: "Reminder", body: `From ${r.from}`, conv: r.conv });
  },
  removed(r) {
    const row = this.convs.get(r.conv);
    if (row) row.left = true;
    this.emit("convs");
    this.toast(`You are no longer a member of ${row?.name || "a group"}.`);
  },
  quiet(q) { this.quietEvent(q); },
  presence(p) { this.people.presence(p); },
  digest(d) {
    this.toast(`While you rested: ${d.messages} new message${d.messages === 1 ? "" : "s"} in `
      + `${d.conversations} conversation${d.conversations === 1 ? "" : "s"}.`, "digest");
  },
  contact(c) { this.people.contactEvent(c); },
  moment(m) { this.people.momentEvent(m); },
  transfer(t) { this.people.transferEvent(t); },
  error(e) {
    if (e.code === "auth_failed") return;
    if (e.code !== "rate_limited") this.toast(`Server: ${e.message}`, "error");
  },
};
