// The Contacts section: pending requests (accept / decline), contacts and
// friends with their badges, the company directory, and asking to connect.

import { restingText } from "../model/quiet.js";
import { avatar, clear, h } from "./dom.js";

export class ContactsView {
  constructor(app, root) {
    this.app = app;
    this.root = root;
    this.results = null;
    this.deptPath = [{ dept: 0, name: "" }];  // the department browser's path from the top
    this.dept = null;  // the directory.department reply shown
    app.on("people", () => {
      // Not while the person is typing into one of the page's fields: that would wipe it.
      const typing = this.root.contains(document.activeElement) && document.activeElement.value;
      if (document.body.dataset.section === "contacts" && !typing) this.render();
    });
  }

  render() {
    const app = this.app;
    const p = app.people;
    const incoming = p.incoming.map((r) => h("li", { class: "person" },
      avatar(r.profile.user, r.profile.display),
      h("div", { class: "grow" }, h("div", { class: "person-name", text: r.profile.display }),
        h("div", { class: "muted", text: [r.profile.corp, r.profile.title].filter(Boolean).join(" · ") }),
        r.profile.note ? h("div", { class: "note", text: `“${r.profile.note}”` }) : null),
      h("div", { class: "row-actions" },
        h("button", { type: "button", class: "btn primary", onclick: () => p.answer(r, true) }, "Accept"),
        h("button", { type: "button", class: "btn", onclick: () => p.answer(r, false) }, "Decline"))));
    const outgoing = p.outgoing.map((r) => h("li", { class: "person" }, avatar(r.profile.user, r.profile.display),
      h("div", { class: "grow" }, h("div", { class: "person-name", text: r.profile.display }),
        h("div", { class: "muted", text: "Request sent · waiting" }))));
    const contacts = p.contacts.map((c) => this.person(c));
    clear(this.root,
      h("div", { class: "page" },
        h("h1", { text: "Contacts" }),
        incoming.length ? h("section", { "aria-label": "Requests" }, h("h2", { text: `Requests · ${incoming.length}` }),
          h("ul", { class: "people" }, incoming)) : null,
        app.employee ? this.directory() : null,
        app.employee ? this.departments() : null,
        this.connectForm(),
        h("section", { "aria-label": app.employee ? "Customers" : "Contacts" },
          h("h2", { text: app.employee ? `External contacts · ${contacts.length}` : `Contacts · ${contacts.length}` }),
          contacts.length ? h("ul", { class: "people" }, contacts)
            : h("p", { class: "muted", text: app.employee ? "No external contacts yet." : "No contacts yet. Accept a request to start chatting." })),
        outgoing.length ? h("section", {}, h("h2", { text: "Sent requests" }), h("ul", { class: "people" }, outgoing)) : null));
  }

  person(c) {
    const app = this.app;
    const resting = app.people.resting(c.user);
    const tags = (c.tags || []).map((t) => app.people.tags?.tags.find((x) => x.tag === t)?.name).filter(Boolean);
    return h("li", { class: "person" }, avatar(c.user, c.display),
      h("div", { class: "grow" },
        h("div", { class: "person-name" }, c.display, c.external ? h("span", { class: "badge ext", text: "External" }) : null),
        h("div", { class: "muted", text: [c.title, c.corp, c.remark && `Note: ${c.remark}`].filter(Boolean).join(" · ") }),
        tags.length ? h("div", { class: "tags" }, tags.map((t) => h("span", { class: "tag", text: t }))) : null,
        resting !== null ? h("span", { class: "resting-mark small", text: resting ? restingText(resting) : "Resting" }) : null),
      h("div", { class: "row-actions" },
        h("button", { type: "button", class: "btn", "aria-label": `Message ${c.display}`,
          onclick: () => { app.emit("section", "chats"); app.openDirect(c.user); } }, "Message")));
  }

  directory() {
    const app = this.app;
    const input = h("input", { type: "search", placeholder: "Search colleagues by name or handle", "aria-label": "Search the directory" });
    const out = h("ul", { class: "people" }, (this.results || []).map((c) => this.person(c)));
    const run = async () => {
      this.results = await app.people.search(input.value.trim());
      clear(out, this.results.map((c) => this.person(c)));
      if (!this.results.length) out.append(h("li", { class: "muted", text: "No one found." }));
    };
    return h("section", { "aria-label": "Directory" }, h("h2", { text: "Directory" }),
      h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); run(); } }, input,
        h("button", { class: "btn", type: "submit" }, "Search")), out);
  }

  /** The company's departments as a tree: a path back to the top, sub-departments, members. */
  departments() {
    const app = this.app;
    const here = this.deptPath[this.deptPath.length - 1];
    if (!this.dept || this.dept.dept !== here.dept) {
      this.openDept(this.deptPath);
      return h("section", { "aria-label": "Departments" }, h("h2", { text: "Departments" }), h("p", { class: "muted", text: "Loading…" }));
    }
    const d = this.dept;
    const crumbs = this.deptPath.map((step, i) => {
      const board = [...app.convs.byConv.values()].find((r) => r.kind === "announce");
      const name = i === 0 ? (board?.name || "Company") : step.name;
      return i === this.deptPath.length - 1 ? h("span", { "aria-current": "location", text: name })
        : h("button", { type: "button", class: "link", onclick: () => this.openDept(this.deptPath.slice(0, i + 1)) }, name);
    });
    return h("section", { "aria-label": "Departments" }, h("h2", { text: "Departments" }),
      h("nav", { class: "crumbs", "aria-label": "Department path" }, crumbs.flatMap((c, i) => (i ? [h("span", { class: "muted", "aria-hidden": "true", text: " › " }), c] : [c]))),
      d.departments.length ? h("ul", { class: "dept-list" }, d.departments.map((sub) => h("li", {},
        h("button", { type: "button", class: "dept", onclick: () => this.openDept([...this.deptPath, { dept: sub.dept, name: sub.name }]) },
          h("span", { class: "dept-icon", "aria-hidden": "true" }), sub.name, h("span", { class: "muted", "aria-hidden": "true", text: "›" }))))) : null,
      d.members.length ? h("ul", { class: "people" }, d.members.map((c) => this.person(c)))
        : h("p", { class: "muted", text: d.departments.length ? "No one directly in this department." : "No one in this department." }));
  }

  async openDept(path) {
    const target = path[path.length - 1];
    if (this.deptLoading === target.dept) return;
    this.deptLoading = target.dept;
    const r = await this.app.people.department(target.dept || undefined);
    this.deptLoading = null;
    if (!r) return;
    this.deptPath = path;
    this.dept = r;
    if (document.body.dataset.section === "contacts") this.render();
  }

  connectForm() {
    const app = this.app;
    const who = h("input", { type: "text", placeholder: "handle", "aria-label": app.employee ? "Customer's handle" : "Friend's handle", required: true });
    const note = h("input", { type: "text", placeholder: "a note (optional)", "aria-label": "Note", maxlength: "200" });
    return h("section", {}, h("h2", { text: app.employee ? "Add a customer" : "Add a friend" }),
      h("form", { class: "inline", onsubmit: (e) => { e.preventDefault();
        app.people.requestContact(who.value.trim().toLowerCase(), note.value.trim()); who.value = note.value = ""; } },
      who, app.employee ? note : null, h("button", { class: "btn", type: "submit" }, "Send request")));
  }
}
