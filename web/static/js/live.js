// Live photos and motion photos (issue 22): the still is the item; its motion clip (GET .../files/motion?playable=1:
// its H.264 MP4 web preview when the clip is HEVC or another codec some browsers lack, else the clip; served
// with Range like any video) plays over the still on hover in the grid, and in the viewer once when the item opens,
// again on hover or with the LIVE button.  Tiles of such items carry data-live (api.js mediaCard).
import { el } from "./api.js";

const API = "/api/v1";

function motionVideo(src, cls) {
  const v = el("video", { class: cls, playsinline: true, preload: "auto", src, "aria-hidden": "true" });
  v.muted = true;  // autoplay on hover is allowed for muted video only
  v.defaultMuted = true;
  return v;
}

// The grid: hovering a live tile plays its clip over the thumbnail (looped) until the pointer leaves.
export function liveHover(container) {
  container.addEventListener("pointerover", (e) => {
    const tile = e.target.closest && e.target.closest(".tile-media[data-live]");
    if (!tile || tile.querySelector("video.live-motion")) return;
    const v = motionVideo(`${API}/media/${encodeURIComponent(tile.dataset.id)}/files/motion?playable=1`, "live-motion");
    v.loop = true;
    tile.append(v);
    const stop = () => { v.pause(); v.remove(); };
    tile.addEventListener("pointerleave", stop, { once: true });
    v.play().catch(stop);
  });
}

// The viewer: once the item's detail is known (m.files), a photo with a motion file gets its clip over the still.
export function liveInViewer(viewer, m) {
  const motion = (m.files || []).find((f) => f.role === "motion");
  const img = viewer.img;
  if (!motion || !img || viewer.stage.querySelector(".viewer-motion")) return;
  const v = motionVideo(`${motion.url}?playable=1`, "viewer-motion");
  v.hidden = true;
  const stop = () => { v.pause(); v.hidden = true; };
  const play = () => {
    if (viewer.img !== img || !v.isConnected) return;
    v.style.width = img.style.width || `${img.clientWidth}px`;
    v.style.height = img.style.height || `${img.clientHeight}px`;
    v.hidden = false;
    v.currentTime = 0;
    v.play().catch(stop);
  };
  v.addEventListener("ended", stop);
  v.addEventListener("playing", () => { v.dataset.played = "1"; });
  img.addEventListener("pointerenter", play);
  const button = el("button", { type: "button", class: "badge live viewer-live", title: "Play the live photo",
                                "aria-label": "Play the live photo" }, "◉ LIVE");
  // the stage captures the pointer for panning: the button keeps its own press
  button.addEventListener("pointerdown", (e) => e.stopPropagation());
  button.addEventListener("click", (e) => { e.stopPropagation(); play(); });
  viewer.stage.append(v, button);
  play();
}
