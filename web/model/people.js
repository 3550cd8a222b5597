// People as the user may see them (§20): display names and badges, presence
// (§21.6), the directory, contacts and requests, groups' members, and the
// customer tools of employees (tags, mass messages, moments; §24–27).

export class People {
  constructor(app) {
    this.app = app;
    this.profiles = new Map();  // handle → profile map
    this.presenceOf = new Map();  // handle → {status, until}
    this.asked = new Set();
    this.contacts = [];  // profile maps (contacts and friends)
    this.incoming = [];  // request maps
    this.outgoing = [];
    this.groups = new Map();  // conv → group.info reply
    this.tags = null;  // the tags reply
    this.moments = [];
    this.drafts = [];  // moment events with a draft
    this.transfers = [];
  }

  get client() { return this.app.client; }

  start() {
    this.loadContacts();
    this.loadRequests();
  }

  remember(profile) {
    if (profile?.user) this.profiles.set(profile.user, { ...this.profiles.get(profile.user), ...profile });
  }

  /** How to show `handle`: a msg's own badge, else what we know, else the handle. */
  display(handle, m = null) {
    if (m?.display) return m.display;
    return this.profiles.get(handle)?.display || handle;
  }

  title(handle, m = null) {
    return m?.title || this.profiles.get(handle)?.title || "";
  }

  /** Ask user.info once for a peer: their profile and whether they rest. */
  async want(handle) {
    if (this.asked.has(handle)) return;
    this.asked.add(handle);
    try {
      const r = await this.client.request({ type: "user.info", user: handle });
      this.remember(r.profile);
      this.presenceOf.set(handle, { status: r.status, until: r.until });
      this.app.emit("people");
    } catch {
      this.asked.delete(handle);
    }
  }

  presence(p) {
    this.presenceOf.set(p.user, { status: p.status, until: p.until });
    this.app.emit("people");
  }

  restingUntil(handle, until) {
    if (!handle) return;
    this.presenceOf.set(handle, { status: "resting", until });
    this.app.emit("people");
  }

  /** When `handle` rests: the end of the rest (ms), else null. */
  resting(handle) {
    const p = this.presenceOf.get(handle);
    if (!p || p.status !== "resting") return null;
    if (p.until !== undefined && Number(p.until) <= Date.now()) return null;
    return p.until ?? 0;
  }

  // ----- contacts and requests -----

  async loadContacts() {
    const all = [];
    for (let offset = 0; ; offset += 500) {
      const r = await this.app.ask({ type: "contact.list", offset, limit: 500 }, "Contacts");
      if (!r) break;
      all.push(...r.people);
      if (!r.more) break;
    }
    this.contacts = all;
    for (const p of all) this.remember(p);
    this.app.emit("people");
  }

  async loadRequests() {
    const r = await this.app.ask({ type: "request.list" }, "Requests");
    if (!r) return;
    this.incoming = r.incoming;
    this.outgoing = r.outgoing;
    for (const q of [...r.incoming, ...r.outgoing]) this.remember(q.profile);
    this.app.emit("people");
  }

  contactEvent(c) {
    this.remember(c.profile);
    const who = c.profile.display;
    const texts = {
      request: `${who} wants to connect with you.`, added: `${who} is now your contact.`,
      declined: `${who} declined your request.`, removed: `${who} ended the contact.`,
      friend_request: `${who} wants to be friends.`, friend_added: `${who} is now your friend.`,
    };
    if (texts[c.event]) this.app.toast(texts[c.event]);
    this.loadContacts();
    this.loadRequests();
  }

  async answer(request, accept) {
    const friend = request.kind === "friend";
    const type = `${friend ? "friend" : "contact"}.${accept ? "accept" : "decline"}`;
    const frame = friend ? { type, user: request.profile.user } : { type, employee: request.profile.user };
    if (await this.app.ask(frame, accept ? "Accept" : "Decline")) {
      this.app.toast(accept ? `${request.profile.display} is now your contact.` : "Declined.");
      await Promise.all([this.loadContacts(), this.loadRequests()]);
    }
  }

  async requestContact(handle, note) {
    const consumer = !this.app.employee;
    const frame = consumer ? { type: "friend.request", to: handle }
      : { type: "contact.request", to: handle, ...(note ? { note } : {}) };
    if (await this.app.ask(frame, "Request")) {
      this.app.toast(`Request sent to ${handle}.`);
      this.loadRequests();
    }
  }

  async search(prefix) {
    if (!this.app.employee || !prefix) return [];
    const r = await this.app.ask({ type: "directory.search", prefix, limit: 50 }, "Directory");
    for (const p of r?.people || []) this.remember(p);
    return r?.people || [];
  }

  async department(dept) {
    const frame = { type: "directory.department" };
    if (dept !== undefined) frame.dept = dept;
    const r = await this.app.ask(frame, "Directory");
    for (const p of r?.members || []) this.remember(p);
    return r;
  }

  // ----- groups -----

  async loadGroup(conv) {
    const r = await this.client.request({ type: "group.info", conv }).catch(() => null);
    if (!r) return null;
    this.groups.set(conv, r);
    for (const m of r.members) if (m.display) this.remember({ user: m.user, display: m.display });
    this.app.emit("group", conv);
    return r;
  }

  systemMessage(m) {
    if (this.groups.has(m.conv)) this.loadGroup(m.conv);
  }

  myRole(conv) {
    return this.groups.get(conv)?.members.find((m) => m.user === this.app.user)?.role || null;
  }

  async groupChange(frame, what) {
    const ok = await this.app.ask(frame, what);
    if (ok && frame.conv !== undefined) await this.loadGroup(frame.conv);
    return ok;
  }

  async createGroup(name, members) {
    const ok = await this.app.ask({ type: "group.create", name, members }, "New group");
    if (!ok) return null;
    await this.app.loadConversations();
    this.app.open(ok.conv);
    return ok.conv;
  }

  // ----- customers (§24–27) -----

  async loadTags() {
    this.tags = await this.app.ask({ type: "tag.list" }, "Tags");
    this.app.emit("people");
    return this.tags;
  }

  /** Whether the user is a corp admin (who manages the tag library, §24.1). The protocol
   *  has no flag for it; `moments.feed` with `employee` is for corp admins only (§27), a
   *  read without effects: its `forbidden` says no. */
  async checkCorpAdmin() {
    if (this.corpAdmin !== undefined) return this.corpAdmin;
    try {
      await this.client.request({ type: "moments.feed", employee: this.app.user, limit: 1 });
      this.corpAdmin = true;
    } catch (e) {
      this.corpAdmin = e.code === "forbidden" ? false : undefined;
    }
    this.app.emit("people");
    return this.corpAdmin;
  }

  async addTagGroup(name) {
    if (await this.app.ask({ type: "tag.group.add", name }, "Tag group")) await this.loadTags();
  }

  async addTag(group, name) {
    if (await this.app.ask({ type: "tag.add", group, name }, "Tag")) await this.loadTags();
  }

  async removeTag(tag) {
    if (await this.app.ask({ type: "tag.remove", tag }, "Tag")) await this.loadTags();
  }

  async tagCustomer(user, add, remove) {
    const frame = { type: "contact.tag", user };
    if (add.length) frame.add = add;
    if (remove.length) frame.remove = remove;
    if (await this.app.ask(frame, "Tags")) await this.loadContacts();
  }

  async broadcast(text, tags) {
    const fields = { text };
    if (tags.length) Object.assign(fields, { tags, match: "any" });
    return new Promise((resolve) => {
      this.pendingBroadcast = resolve;
      this.client.sendMessage(fields, "broadcast.customers");
    });
  }

  broadcastDone(done) {
    const skipped = done.skipped.reduce((n, s) => n + Number(s.count), 0);
    this.lastBroadcast = { sent: Number(done.sent), skipped, at: Date.now() };
    this.pendingBroadcast?.(this.lastBroadcast);
    this.app.emit("people");
  }

  async loadMoments() {
    const r = await this.app.ask({ type: "moments.feed", limit: 20 }, "Moments");
    this.moments = r?.moments || [];
    this.app.emit("people");
  }

  /** Post today's moment; `media`: uploaded images (up to 9, revision 1.4). */
  async postMoment(text, media = []) {
    const frame = { type: "moment.post", text };
    if (media.length) frame.media = media.map((m) => ({ media: m.media }));
    const ok = await this.app.ask(frame, "Moment");
    if (ok) {
      this.app.toast("Moment posted.");
      this.loadMoments();
    }
    return ok;
  }

  async confirmDraft(draft) {
    if (await this.app.ask({ type: "moment.confirm", draft }, "Moment")) {
      this.drafts = this.drafts.filter((d) => d.draft !== draft);
      this.app.toast("Draft published as your moment.");
      this.loadMoments();
    }
  }

  momentEvent(e) {
    if (e.draft !== undefined) {
      this.drafts.push(e);
      this.app.toast(`${e.moment.author.display} drafted a moment for you to confirm.`);
    } else {
      this.moments.unshift(e.moment);
      this.app.toast(`New moment from ${e.moment.author.display}.`);
    }
    this.app.emit("people");
  }

  transferEvent(t) {
    this.transfers.push(t);
    const texts = { pending: `${t.from.display} is handing you over to ${t.to.display}.`,
      refused: "A customer refused a transfer." };
    this.app.toast(texts[t.state] || "A customer transfer changed.");
    this.app.emit("people");
  }
}
