// The Customers section of employees (§24–27): tags on customers, a mass
// message with its daily quota, and moments (post, confirm a company draft).

import { upload } from "../model/media.js";
import { avatar, clear, h, time } from "./dom.js";
import { imageThumb } from "./media.js";

const MOMENT_IMAGES = 9;

export class CustomersView {
  constructor(app, root) {
    this.app = app;
    this.root = root;
    this.loaded = false;
    this.images = [];  // the next moment's images: {file, preview, media, error}
    app.on("people", () => { if (document.body.dataset.section === "customers") this.render(); });
  }

  show() {
    if (!this.loaded) {
      this.loaded = true;
      if (this.app.employee) {
        this.app.people.loadTags();
        this.app.people.checkCorpAdmin();
      }
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
      this.broadcastCard(), this.tagsCard(), this.libraryCard(), this.momentsCard()));
  }

  feed() {
    const moments = this.app.people.moments;
    if (!moments.length) return h("p", { class: "muted", text: "No moments yet." });
    return h("ul", { class: "moments" }, moments.map((m) => h("li", { class: "card" },
      h("div", { class: "person" }, avatar(m.author.user, m.author.display),
        h("div", { class: "grow" }, h("div", { class: "person-name", text: m.author.display }),
          h("div", { class: "muted", text: [m.author.title, m.author.corp, time(m.time)].filter(Boolean).join(" · ") }))),
      h("p", { text: m.text }), this.momentMedia(m))));
  }

  /** A moment's images as a grid of thumbnails (click: the full image). */
  momentMedia(m) {
    const images = (m.media || []).filter((f) => f.kind === "image");
    if (!images.length) return null;
    return h("div", { class: "moment-images", "aria-label": `${images.length} image${images.length === 1 ? "" : "s"}` },
      images.map((f) => imageThumb(this.app.mediaUrls, f, 160)));
  }

  /** Choose images for the next moment: each uploads at once, shown as it will be. */
  async addImages(files) {
    const room = MOMENT_IMAGES - this.images.length;
    const chosen = [...files].filter((f) => f.type.startsWith("image/")).slice(0, room);
    if (files.length > chosen.length) this.app.toast(`A moment holds up to ${MOMENT_IMAGES} images.`);
    await Promise.all(chosen.map(async (file) => {
      const item = { file, preview: URL.createObjectURL(file), media: null, error: null };
      this.images.push(item);
      this.render();
      try {
        item.media = await upload(this.app.client.token, file, () => {});
      } catch (e) {
        item.error = e.message;
        this.app.toast(`${file.name}: ${e.message}`, "error");
      }
      this.render();
    }));
  }

  dropImage(item) {
    URL.revokeObjectURL(item.preview);
    this.images = this.images.filter((x) => x !== item);
    this.render();
  }

  async post(text) {
    if (this.images.some((x) => !x.media && !x.error)) {
      this.app.toast("Wait for the images to finish uploading.");
      return;
    }
    const media = this.images.filter((x) => x.media).map((x) => x.media);
    if (await this.app.people.postMoment(text, media)) {
      for (const x of this.images) URL.revokeObjectURL(x.preview);
      this.images = [];
      this.draftText = "";
      this.render();
    }
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

  /** The company's tag library: groups and their tags; corp admins add and remove them. */
  libraryCard() {
    const p = this.app.people;
    const lib = p.tags;
    if (!lib) return null;
    const admin = p.corpAdmin === true;
    const groups = lib.groups.map((g) => {
      const tags = lib.tags.filter((t) => t.group === g.dept);
      const name = h("input", { type: "text", maxlength: "30", placeholder: "new tag", "aria-label": `New tag in ${g.name}` });
      return h("div", { class: "tag-group", "data-group": g.dept }, h("h3", { text: g.name || "(unnamed)" }),
        h("div", { class: "chips" }, tags.length ? tags.map((t) => h("span", { class: "chip tag-chip" }, t.name,
          admin ? h("button", { type: "button", class: "icon-btn", "aria-label": `Remove the tag ${t.name}`, onclick: () => p.removeTag(t.tag) }, "×") : null))
          : h("span", { class: "muted", text: "No tags yet." })),
        admin ? h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); if (name.value.trim()) p.addTag(g.dept, name.value.trim()); } },
          name, h("button", { class: "btn", type: "submit" }, "Add tag")) : null);
    });
    const groupName = h("input", { type: "text", maxlength: "30", placeholder: "e.g. Region", "aria-label": "New tag group" });
    return h("section", { class: "card", "aria-label": "Tag library" }, h("h2", { text: "Tag library" }),
      h("p", { class: "muted", text: admin ? "Your company's tags, in groups. Employees tag their customers with them."
        : "Your company's tags, in groups (company admins manage them)." }),
      groups.length ? groups : h("p", { class: "muted", text: "No tag groups yet." }),
      admin ? h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); if (groupName.value.trim()) p.addTagGroup(groupName.value.trim()); } },
        groupName, h("button", { class: "btn", type: "submit" }, "Add tag group")) : null);
  }

  momentsCard() {
    const p = this.app.people;
    const text = h("textarea", { rows: "2", "aria-label": "New moment", maxlength: "2000", value: this.draftText || "",
      placeholder: "Share something with your customers (one moment a day)", oninput: (e) => { this.draftText = e.target.value; } });
    const picker = h("input", { type: "file", accept: "image/*", multiple: true, hidden: true, "aria-label": "Images for the moment",
      onchange: (e) => { this.addImages(e.target.files); e.target.value = ""; } });
    const chosen = h("div", { class: "moment-images chosen", "aria-live": "polite" }, this.images.map((x) => h("figure", { class: `chosen-image${x.error ? " failed" : ""}` },
      h("img", { src: x.preview, alt: x.file.name, width: "96", height: "96" }),
      h("figcaption", { text: x.error ? "failed" : x.media ? "ready" : "uploading…" }),
      h("button", { type: "button", class: "icon-btn", "aria-label": `Remove ${x.file.name}`, onclick: () => this.dropImage(x) }, "×"))));
    return h("section", { class: "card", "aria-label": "Moments" }, h("h2", { text: "Moments" }),
      p.drafts.map((d) => h("div", { class: "draft" },
        h("div", { class: "muted", text: `Draft from ${d.moment.author.display}` }), h("p", { text: d.moment.text }), this.momentMedia(d.moment),
        h("button", { type: "button", class: "btn primary", onclick: () => p.confirmDraft(d.draft) }, "Confirm and publish"))),
      h("form", { class: "stack", onsubmit: (e) => { e.preventDefault(); if (text.value.trim()) this.post(text.value.trim()); } },
        text, this.images.length ? chosen : null,
        h("div", { class: "inline" },
          this.app.hasMedia ? h("button", { type: "button", class: "btn ghost", disabled: this.images.length >= MOMENT_IMAGES,
            onclick: () => picker.click() }, `Add images (${this.images.length}/${MOMENT_IMAGES})`) : null, picker,
          h("button", { class: "btn", type: "submit" }, "Post moment"))),
      h("ul", { class: "moments" }, p.moments.map((m) => h("li", {},
        h("div", { class: "muted", text: `${m.author.display} · ${time(m.time)}` }), h("p", { text: m.text }), this.momentMedia(m)))));
  }
}
