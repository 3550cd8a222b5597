// Attachments (revision 1.4, §29): uploads over plain HTTP with progress,
// signed URLs for <img>, and what a message's files look like. Shown only when
// the frame tables have `media.url` (the server speaks 1.4).

import { CLIENT } from "../proto/frames.js";

export const hasMedia = Object.hasOwn(CLIENT, "media.url")
  && CLIENT.send.some(([key]) => key === "attachments");

/** POST /media with the device token: resolves with the server's JSON, reports progress 0…1. */
export function upload(token, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/media?name=${encodeURIComponent(file.name || "")}`);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON: reported below */ }
      if (xhr.status === 201) resolve(body);
      else reject(Object.assign(new Error(body.message || `upload failed (${xhr.status})`), { code: body.error }));
    };
    xhr.onerror = () => reject(Object.assign(new Error("the upload broke off"), { code: "disconnected" }));
    xhr.send(file);
  });
}

export function sizeText(bytes) {
  const n = Number(bytes);
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1048576).toFixed(1)} MB`;
}

/** Signed URLs, asked once per (media, thumb) while they are valid. */
export class MediaUrls {
  constructor(app) {
    this.app = app;
    this.cache = new Map();
  }

  get(media, thumb = null) {
    const key = `${media}:${thumb ?? ""}`;
    const hit = this.cache.get(key);
    if (hit && hit.expires - 60000 > Date.now()) return hit.promise;
    const frame = { type: "media.url", media };
    if (thumb) frame.thumb = thumb;
    const promise = this.app.client.request(frame).then((r) => r.url);
    this.cache.set(key, { promise, expires: Date.now() + 9 * 60000 });
    promise.catch(() => this.cache.delete(key));
    return promise;
  }
}
