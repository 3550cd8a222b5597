// Images as thumbnails: a signed URL of 320 px for the <img>, the full image on click,
// the box reserved from the width and height (nothing jumps when it loads).

import { h } from "./dom.js";

export function imageThumb(urls, f, max = 240) {
  const link = h("a", { target: "_blank", rel: "noopener", class: "thumb",
    "aria-label": `Image ${f.name || ""}, open full size` });
  urls.get(f.media).then((url) => { link.href = url; }, () => link.classList.add("gone"));
  const img = h("img", { alt: f.name || "image", loading: "lazy" });
  if (f.width && f.height) {
    const scale = Math.min(1, max / Math.max(Number(f.width), Number(f.height)));
    img.width = Math.round(Number(f.width) * scale);
    img.height = Math.round(Number(f.height) * scale);
  }
  urls.get(f.media, 320).then((url) => { img.src = url; }, () => {});
  link.append(img);
  return link;
}
