// Side panel and dialogs: a group's members and settings, who has read a
// message (with "remind"), creating a group, starting a chat.

import { avatar, clear, dialog, h, time } from "./dom.js";
import { forwardDialog, noticeSection, pinsPanel, reactionsPanel } from "./everyday.js";

const ROLE = { owner: "Owner", admin: "Admin", member: "Member" };

export class Panels {
  constructor(app, drawer) {
    this.app = app;
    this.drawer = drawer;
    this.showing = null;
    app.on("group", (conv) => { if (this.showing === conv) this.group(conv); });
  }

  close() {
    this.showing = null;
    this.drawer.hidden = true;
    document.body.classList.remove("drawer-open");
  }

  open(title, ...body) {
    clear(this.drawer,
      h("header", { class: "drawer-header" }, h("h2", { text: title }),
        h("button", { type: "button", class: "icon-btn", "aria-label": "Close panel", onclick: () => this.close() }, "×")),
      h("div", { class: "drawer-body" }, body));
    this.drawer.hidden = false;
    document.body.classList.add("drawer-open");
  }

  // ----- a group -----

  async group(conv) {
    const app = this.app;
    this.showing = conv;
    const g = app.people.groups.get(conv) || await app.people.loadGroup(conv);
    if (!g || this.showing !== conv) return;
    const role = app.people.myRole(conv);
    const manage = role === "owner" || role === "admin";
    const change = (frame, what) => app.people.groupChange({ ...frame, conv }, what);
    const members = [...g.members].sort((a, b) => rank(a.role) - rank(b.role) || a.user.localeCompare(b.user));
    const list = h("ul", { class: "member-list", "aria-label": "Members" }, members.map((m) => {
      const name = m.user === app.user ? `${app.people.display(m.user)} (you)` : app.people.display(m.user, m);
      const buttons = [];
      if (m.user !== app.user && m.role !== "owner") {
        if (role === "owner") {
          buttons.push(h("button", { type: "button", class: "link", onclick: () => change(
            { type: "group.role", user: m.user, role: m.role === "admin" ? "member" : "admin" }, "Role") },
          m.role === "admin" ? "Make member" : "Make admin"));
          if (!m.external) {  // only an employee can own a group (§10.4)
            buttons.push(h("button", { type: "button", class: "link", "aria-label": `Make ${name} the owner`,
              onclick: () => this.confirm(`Make ${name} the owner?`, "You become an admin of the group.", "Hand over",
                () => change({ type: "group.transfer", to: m.user }, "Hand over")) }, "Make owner"));
          }
        }
        if (role === "owner" || (role === "admin" && m.role === "member")) {
          buttons.push(h("button", { type: "button", class: "link danger", "aria-label": `Remove ${name}`,
            onclick: () => change({ type: "group.remove", members: [m.user] }, "Remove") }, "Remove"));
        }
      }
      return h("li", {}, avatar(m.user, name), h("div", { class: "grow" }, h("div", { text: name }),
        h("div", { class: "muted", text: ROLE[m.role] || m.role })), h("div", { class: "row-actions" }, buttons));
    }));
    const addInput = h("input", { type: "text", placeholder: "handles, comma separated", "aria-label": "Handles to add" });
    const nameInput = h("input", { type: "text", value: g.name, "aria-label": "Group name", maxlength: "64" });
    this.open(g.name,
      manage ? h("form", { class: "stack", onsubmit: (e) => { e.preventDefault();
        change({ type: "group.rename", name: nameInput.value.trim() }, "Rename"); } },
      h("label", { class: "field" }, "Name", nameInput), h("button", { class: "btn", type: "submit" }, "Rename")) : null,
      app.hasEveryday ? noticeSection(this, conv, manage) : null,
      h("h3", { text: `${g.members.length} members` }), list,
      manage ? h("form", { class: "stack", onsubmit: (e) => { e.preventDefault();
        const handles = splitHandles(addInput.value);
        if (handles.length) change({ type: "group.add", members: handles }, "Add members");
        addInput.value = ""; } },
      h("label", { class: "field" }, "Add people", addInput), h("button", { class: "btn", type: "submit" }, "Add")) : null,
      h("div", { class: "danger-zone" },
        role !== "owner" ? h("button", { type: "button", class: "btn danger", onclick: () => this.confirm(
          "Leave this group?", "You will keep the messages you could see.", "Leave",
          () => change({ type: "group.leave" }, "Leave").then((ok) => ok && this.close())) }, "Leave group") : null,
        role === "owner" ? h("button", { type: "button", class: "btn danger", onclick: () => this.confirm(
          "Dissolve this group?", "No one can write in it any more.", "Dissolve",
          () => change({ type: "group.dissolve" }, "Dissolve").then((ok) => ok && this.close())) }, "Dissolve group") : null));
  }

  confirm(title, text, action, run) {
    const dlg = dialog(title, h("p", { text }), [
      h("button", { class: "btn", value: "cancel" }, "Cancel"),
      h("button", { class: "btn danger", value: "ok", onclick: () => run() }, action)]);
    return dlg;
  }

  // ----- everyday messaging (1.5) -----

  pins(conv) { return pinsPanel(this, conv); }

  reactions(m) { return reactionsPanel(this, m); }

  forward(msgs) { return forwardDialog(this.app, msgs); }

  // ----- who has read a message -----

  async receipts(conv, seq) {
    const app = this.app;
    const r = await app.receipts(conv, seq, { again: true });
    if (!r) return;
    const readers = h("ul", { class: "member-list" }, r.read.map((x) =>
      h("li", {}, avatar(x.user, app.people.display(x.user)), h("div", { class: "grow", text: app.people.display(x.user) }),
        h("span", { class: "muted", text: time(x.time) }))));
    const unread = h("ul", { class: "member-list" }, r.unread.map((u) =>
      h("li", {}, avatar(u, app.people.display(u)), h("div", { class: "grow", text: app.people.display(u) }))));
    this.showing = null;
    const notice = !!this.app.chat(conv).bySeq.get(seq)?.notice || this.app.convs.get(conv)?.notice === seq;
    const words = notice ? { title: "Group notice", not: "Not confirmed yet", all: "Everyone has confirmed it.", done: "Confirmed" }
      : { title: "Read receipts", not: "Not read yet", all: "Everyone has read it.", done: "Read" };
    this.open(words.title,
      h("h3", { text: `${words.not} · ${r.unread_count}` }), r.unread.length ? unread : h("p", { class: "muted", text: words.all }),
      r.unread.length ? h("button", { type: "button", class: "btn primary", onclick: () => app.remind(conv, seq) }, "Remind them") : null,
      h("h3", { text: `${words.done} · ${r.read_count}` }), r.read.length ? readers : h("p", { class: "muted", text: "No one yet." }));
  }

  // ----- creating -----

  newGroup() {
    const app = this.app;
    const name = h("input", { type: "text", required: true, maxlength: "64", "aria-label": "Group name", placeholder: "e.g. Launch team" });
    const members = h("input", { type: "text", "aria-label": "Members", placeholder: "handles, comma separated" });
    const hint = h("datalist", { id: "people-list" }, [...app.people.profiles.values()].map((p) => h("option", { value: p.user }, p.display)));
    members.setAttribute("list", "people-list");
    dialog("New group", h("div", { class: "stack" }, h("label", { class: "field" }, "Name", name),
      h("label", { class: "field" }, "Members", members), hint), [
      h("button", { class: "btn", value: "cancel", formnovalidate: true }, "Cancel"),
      h("button", { class: "btn primary", value: "ok", onclick: (e) => {
        if (!name.value.trim()) { e.preventDefault(); name.focus(); return; }
        app.people.createGroup(name.value.trim(), splitHandles(members.value));
      } }, "Create")]);
    name.focus();
  }

  newChat() {
    const app = this.app;
    const who = h("input", { type: "text", required: true, "aria-label": "Handle", placeholder: "their handle, e.g. ben" });
    dialog("New chat", h("label", { class: "field" }, "With", who), [
      h("button", { class: "btn", value: "cancel", formnovalidate: true }, "Cancel"),
      h("button", { class: "btn primary", value: "ok", onclick: (e) => {
        if (!who.value.trim()) { e.preventDefault(); return; }
        app.openDirect(who.value.trim().toLowerCase());
      } }, "Open")]);
    who.focus();
  }
}

function rank(role) {
  return { owner: 0, admin: 1, member: 2 }[role] ?? 3;
}

export function splitHandles(text) {
  return [...new Set(text.split(/[\s,;]+/).map((s) => s.replace(/^@/, "").toLowerCase()).filter(Boolean))];
}
