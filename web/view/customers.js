// The Customers section of employees (§24–27): tags on customers, a mass
// message with its daily quota, and moments (post, confirm a company draft).

import { avatar, clear, h, time } from "./dom.js";

export class CustomersView {
  constructor(app, root) {
    this.app = app;
    this.root = root;
    this.loaded = false;
    app.on("people", () => { if (document.body.dataset.section === "customers") this.render(); });
  }

  show() {
    if (!this.loaded) {
      this.loaded = true;
      if (this.app.employee) this.app.people.loadTags();
      this.app.people.loadMoments();
    }
    this.render();
  }

  render() {
    if (!this.app.employee) {  // a consumer reads the moments of the employees they know
      clear(this.root, h("div", { class: "page" }, h("h1", { text: "Moments" }), this.feed()));
      return;
    }
    clear(this.root, h("div", { class: "page" }, h("h1", { text: "Customers" }),
      this.broadcastCard(), this.tagsCard(), this.momentsCard()));
  }

  feed() {
    const moments = this.app.people.moments;
    if (!moments.length) return h("p", { class: "muted", text: "No moments yet." });
    return h("ul", { class: "moments" }, moments.map((m) => h("li", { class: "card" },
      h("div", { class: "person" }, avatar(m.author.user, m.author.display),
        h("div", { class: "grow" }, h("div", { class: "person-name", text: m.author.display }),
          h("div", { class: "muted", text: [m.author.title, m.author.corp, time(m.time)].filter(Boolean).join(" · ") }))),
      h("p", { text: m.text }))));
  }

  tagNames() {
    return new Map((this.app.people.tags?.tags || []).map((t) => [t.tag, t.name]));
  }

  broadcastCard() {
    const p = this.app.people;
    const names = this.tagNames();
    const chosen = new Set();
    const text = h("textarea", { rows: "3", "aria-label": "Mass message", maxlength: "4000", placeholder: "A message to your customers", required: true });
    const tags = [...names].map(([id, name]) => h("label", { class: "chip" },
      h("input", { type: "checkbox", onchange: (e) => (e.target.checked ? chosen.add(id) : chosen.delete(id)) }), name));
    const last = p.lastBroadcast;
    return h("section", { class: "card", "aria-label": "Mass message" },
      h("h2", { text: "Mass message" }),
      h("p", { class: "quota", text: `Quota: each customer receives at most 1 mass message from you per day (renews 00:00 UTC). ${p.contacts.length} customer${p.contacts.length === 1 ? "" : "s"}.` }),
      h("form", { class: "stack", onsubmit: async (e) => {
        e.preventDefault();
        if (!text.value.trim()) return;
        await p.broadcast(text.value, [...chosen]);
        text.value = "";
      } }, text, tags.length ? h("div", { class: "chips", "aria-label": "Only customers tagged" }, tags) : null,
      h("button", { class: "btn primary", type: "submit" }, "Send to customers")),
      last ? h("p", { class: "muted", "data-testid": "broadcast-result",
        text: `Last mass message: sent to ${last.sent}; ${last.skipped} skipped (had one today).` }) : null);
  }

  tagsCard() {
    const p = this.app.people;
    const names = this.tagNames();
    const rows = p.contacts.map((c) => {
      const mine = new Set(c.tags || []);
      return h("li", { class: "person" }, avatar(c.user, c.display),
        h("div", { class: "grow" }, h("div", { class: "person-name", text: c.display }),
          h("div", { class: "chips" }, [...names].map(([id, name]) => h("label", { class: `chip${mine.has(id) ? " on" : ""}` },
            h("input", { type: "checkbox", checked: mine.has(id), onchange: (e) =>
              p.tagCustomer(c.user, e.target.checked ? [id] : [], e.target.checked ? [] : [id]) }), name)))));
    });
    return h("section", { class: "card", "aria-label": "Customer tags" }, h("h2", { text: "Tags" }),
      !names.size ? h("p", { class: "muted", text: "Your company has no tags yet (company admins add them)." })
        : rows.length ? h("ul", { class: "people" }, rows) : h("p", { class: "muted", text: "No customers yet." }));
  }

  momentsCard() {
    const p = this.app.people;
    const text = h("textarea", { rows: "2", "aria-label": "New moment", maxlength: "2000", placeholder: "Share something with your customers (one moment a day)" });
    return h("section", { class: "card", "aria-label": "Moments" }, h("h2", { text: "Moments" }),
      p.drafts.map((d) => h("div", { class: "draft" },
        h("div", { class: "muted", text: `Draft from ${d.moment.author.display}` }), h("p", { text: d.moment.text }),
        h("button", { type: "button", class: "btn primary", onclick: () => p.confirmDraft(d.draft) }, "Confirm and publish"))),
      h("form", { class: "stack", onsubmit: (e) => { e.preventDefault(); if (text.value.trim()) p.postMoment(text.value.trim()); text.value = ""; } },
        text, h("button", { class: "btn", type: "submit" }, "Post moment")),
      h("ul", { class: "moments" }, p.moments.map((m) => h("li", {},
        h("div", { class: "muted", text: `${m.author.display} · ${time(m.time)}` }), h("p", { text: m.text })))));
  }
}
