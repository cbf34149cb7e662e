// The picking desk page: a windowed thumbnail grid (only the visible rows exist in the
// DOM, so thousands of variations scroll smoothly), a large view of the cursor or of 2/4
// marked variations with one shared zoom, keys, and pushes from the server.
// Cells and panes are keyed by cue, file name and file stamp: two cues have files of the same
// names (seed-100.png), and a cell kept from the cue shown before would show its picture.
"use strict";

const CELL_W = 172, IMG_H = 90, OVERSCAN = 2;
let CELL_H = 120;  // grows with the longest caption of the cue (swept values wrap, never cut)
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const TOKEN = params.get("token") || sessionStorage.getItem("desk-token") || "";
if (params.get("token")) {
  sessionStorage.setItem("desk-token", TOKEN);
  params.delete("token");
  history.replaceState(null, "", location.pathname + (params.size ? `?${params}` : ""));
}
const T = `token=${encodeURIComponent(TOKEN)}`;
const S = {
  cues: [], cue: null, items: [], view: [], cursor: 0, marked: [], compare: false,
  picked: null, zoom: { s: 1, x: 0, y: 0 }, jobs: {}, loads: 0,
};

function enc(s) { return encodeURIComponent(s); }
function thumbUrl(it) { return `/thumb/${enc(S.cue)}/${enc(it.id)}?v=${it.stamp}&${T}`; }
function mediaUrl(it) { return `/media/${enc(S.cue)}/${enc(it.id)}?v=${it.stamp}&${T}`; }
function orbitUrl(it) { return `/orbit/${enc(S.cue)}/${enc(it.id)}?v=${it.stamp}&${T}`; }
// what the large view shows: the file itself, or a splat scene's orbit preview
function viewUrl(it) { return it.kind === "splat" ? orbitUrl(it) : mediaUrl(it); }
function stars(n) { return "\u2605".repeat(n) + "\u2606".repeat(5 - n); }
function cellKey(it) { return `${S.cue}\n${it.id}\n${it.stamp}`; }
function label(it) {
  const vals = Object.entries(it.values || {}).map(([k, v]) => `${k} ${v}`).join(", ");
  return (it.seed !== null ? `seed ${it.seed}` : it.id) + (vals ? ` \u00b7 ${vals}` : "");
}

function status(text, error = false) {
  const el = $("status");
  el.textContent = text;
  el.className = error ? "error" : "";
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${TOKEN}` };
  if (body) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method, headers,
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = null;
  try { data = await res.json(); } catch (e) { data = { error: `${res.status} ${res.statusText}` }; }
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

// --- cues and filters ---------------------------------------------------------------

async function loadCues() {
  const data = await api("GET", "/api/cues");
  S.cues = data.cues;
  $("title").textContent = data.title;
  const sel = $("cue");
  sel.innerHTML = "";
  for (const c of S.cues) {
    const o = document.createElement("option");
    o.value = c.id;
    o.textContent = `${c.id} (${c.count})${c.prompt ? " " + c.prompt.slice(0, 40) : ""}`;
    sel.appendChild(o);
  }
  const wanted = params.get("cue");
  const first = S.cues.find((c) => c.id === wanted) || S.cues.find((c) => c.count) || S.cues[0];
  if (first) { sel.value = first.id; await loadCue(first.id); }
}

async function loadCue(id) {
  const load = ++S.loads;
  const data = await api("GET", `/api/cues/${enc(id)}/variations`);
  if (load !== S.loads) return;  // another cue was chosen while this one loaded
  S.cue = id; S.items = data.items; S.picked = data.picked; S.marked = []; S.cursor = 0;
  S.compare = false;
  const values = new Set();
  for (const it of S.items) for (const [k, v] of Object.entries(it.values || {})) values.add(`${k}=${v}`);
  const fv = $("f-value");
  fv.innerHTML = '<option value="">any</option>';
  for (const v of [...values].sort()) {
    const o = document.createElement("option"); o.value = v; o.textContent = v; fv.appendChild(o);
  }
  const sheets = $("sheets");
  sheets.innerHTML = "";
  for (const name of data.sheets) {
    const img = document.createElement("img");
    img.loading = "lazy"; img.alt = name; img.src = `/sheet/${enc(id)}/${enc(name)}?${T}`;
    sheets.appendChild(img);
  }
  $("sheets-box").hidden = !data.sheets.length;
  if (data.missing.length) {
    status(`${data.missing.length} recorded variations are missing from the folder ` +
           `(deleted by hand?): ${data.missing.slice(0, 5).join(", ")}`, true);
  } else status("");
  CELL_H = 4 + IMG_H + captionHeight(S.items) + 8;
  $("grid").style.setProperty("--cell-h", `${CELL_H - 4}px`);
  $("grid").scrollTop = 0;
  document.body.dataset.cue = id;
  applyFilters();
}

// The height the longest captions of a cue need at the cell's width (measured in the page,
// on the 20 longest labels: the same font and wrapping as the cells).
function captionHeight(items) {
  const probe = document.createElement("div");
  probe.className = "cap"; probe.style.cssText = "position:absolute;visibility:hidden;width:160px";
  $("grid").appendChild(probe);
  let h = 16;
  const longest = items.map((it) => label(it)).sort((a, b) => b.length - a.length).slice(0, 20);
  for (const text of longest) { probe.textContent = "\u2605\u2605\u2605\u2605\u2605 " + text; h = Math.max(h, probe.offsetHeight); }
  probe.remove();
  return h;
}

function passes(it) {
  const minRating = +$("f-rating").value, rej = $("f-rejected").value;
  const seed = $("f-seed").value.trim(), value = $("f-value").value;
  if (it.rating < minRating) return false;
  if (rej === "hide" && it.rejected) return false;
  if (rej === "only" && !it.rejected) return false;
  if (seed && String(it.seed) !== seed) return false;
  if (value) {
    const [k, v] = value.split(/=(.*)/s);
    if (String((it.values || {})[k]) !== v) return false;
  }
  return true;
}

function applyFilters(keepId) {
  const current = keepId !== undefined ? keepId : S.view[S.cursor] && S.view[S.cursor].id;
  const oldCursor = S.cursor;
  S.view = S.items.filter(passes);
  const found = S.view.findIndex((it) => it.id === current);
  S.cursor = found >= 0 ? found : Math.min(oldCursor, Math.max(0, S.view.length - 1));
  $("count").textContent = `${S.view.length} shown of ${S.items.length}`;
  document.body.dataset.count = String(S.view.length);
  layoutGrid(); renderCells(); renderView();
}

// --- the windowed grid --------------------------------------------------------------

function columns() { return Math.max(1, Math.floor(($("grid").clientWidth - 8) / CELL_W)); }

function layoutGrid() {
  $("spacer").style.height = `${Math.ceil(S.view.length / columns()) * CELL_H + 8}px`;
}

function renderCells() {
  const grid = $("grid"), spacer = $("spacer"), cols = columns();
  const first = Math.max(0, Math.floor(grid.scrollTop / CELL_H) - OVERSCAN);
  const last = Math.ceil((grid.scrollTop + grid.clientHeight) / CELL_H) + OVERSCAN;
  const keep = new Map();
  for (const el of [...spacer.children]) keep.set(el.dataset.key, el);
  const wanted = new Set();
  for (let i = first * cols; i < Math.min(S.view.length, last * cols); i++) {
    const it = S.view[i];
    const key = cellKey(it);
    wanted.add(key);
    let el = keep.get(key);
    if (!el) {
      el = document.createElement("div");
      el.className = "cell"; el.dataset.id = it.id; el.dataset.key = key; el.dataset.cue = S.cue;
      el.innerHTML = `<img loading="lazy" decoding="async" alt=""><div class="cap"></div>`;
      el.querySelector("img").src = thumbUrl(it);
      if (it.kind === "video") {
        el.addEventListener("mouseenter", () => hoverVideo(el, it, true));
        el.addEventListener("mouseleave", () => hoverVideo(el, it, false));
      } else if (it.kind === "splat") {
        el.addEventListener("mouseenter", () => { el.querySelector("img").src = orbitUrl(it); });
        el.addEventListener("mouseleave", () => { el.querySelector("img").src = thumbUrl(it); });
      }
      spacer.appendChild(el);
    }
    el.dataset.i = String(i);
    el.style.left = `${4 + (i % cols) * CELL_W}px`;
    el.style.top = `${4 + Math.floor(i / cols) * CELL_H}px`;
    el.classList.toggle("cursor", i === S.cursor);
    el.classList.toggle("marked", S.marked.includes(it.id));
    el.classList.toggle("picked", it.id === S.picked);
    el.classList.toggle("rejected", it.rejected);
    const cap = el.querySelector(".cap");
    cap.innerHTML =
      (it.rating ? `<span class="stars">${"\u2605".repeat(it.rating)}</span> ` : "") +
      label(it).replace(/&/g, "&amp;").replace(/</g, "&lt;");
    cap.title = label(it);
  }
  for (const [key, el] of keep) if (!wanted.has(key)) el.remove();
}

function hoverVideo(el, it, on) {
  const old = el.querySelector("img, video");
  let fresh;
  if (on) {
    fresh = document.createElement("video");
    fresh.src = mediaUrl(it); fresh.muted = true; fresh.loop = true; fresh.autoplay = true;
    fresh.playsInline = true; fresh.poster = thumbUrl(it);
  } else {
    fresh = document.createElement("img"); fresh.src = thumbUrl(it);
  }
  old.replaceWith(fresh);
}

function scrollToCursor() {
  const grid = $("grid"), row = Math.floor(S.cursor / columns());
  const top = row * CELL_H, bottom = top + CELL_H + 8;
  if (top < grid.scrollTop) grid.scrollTop = top;
  else if (bottom > grid.scrollTop + grid.clientHeight) grid.scrollTop = bottom - grid.clientHeight;
}

// --- the large view ------------------------------------------------------------------

function shown() {
  if (S.compare) {
    const marked = S.marked.map((id) => S.items.find((it) => it.id === id)).filter(Boolean);
    if (marked.length === 2 || marked.length === 4) return marked;
  }
  const it = S.view[S.cursor];
  return it ? [it] : [];
}

function renderView() {
  const items = shown(), panes = $("panes");
  panes.className = `n${items.length === 4 ? 4 : items.length === 2 ? 2 : 1}`;
  const ids = items.map(cellKey).join("|");
  if (panes.dataset.ids !== ids) {
    panes.dataset.ids = ids;
    panes.innerHTML = "";
    for (const it of items) {
      const pane = document.createElement("div");
      pane.className = "pane loading"; pane.dataset.id = it.id;
      const media = document.createElement(it.kind === "video" ? "video" : "img");
      const wait = document.createElement("div");
      wait.className = "wait"; wait.textContent = `loading ${it.id}\u2026`;
      const loaded = () => { pane.classList.remove("loading"); wait.remove(); countLoading(); };
      media.addEventListener(it.kind === "video" ? "loadeddata" : "load", loaded, { once: true });
      media.addEventListener("error", () => {
        pane.classList.remove("loading"); pane.classList.add("failed");
        wait.textContent = `cannot load ${it.id}`; countLoading();
      }, { once: true });
      if (it.kind === "video") { media.muted = true; media.loop = true; media.autoplay = true; }
      media.draggable = false;
      media.src = viewUrl(it);
      const lab = document.createElement("div");
      lab.className = "label"; pane.append(media, wait, lab);
      panes.appendChild(pane);
    }
    countLoading();
  }
  for (const pane of panes.children) {
    const it = items.find((x) => x.id === pane.dataset.id);
    pane.querySelector(".label").textContent =
      `${label(it)}${it.id === S.picked ? "  \u2014 picked" : ""}${it.rejected ? "  \u2014 rejected" : ""}`;
  }
  applyZoom();
  const it = S.view[S.cursor];
  $("stars").textContent = it ? stars(it.rating) : "";
  $("parameters").textContent = it ? (it.parameters || "(no A1111 parameters: not recorded)") : "";
  $("recipe").textContent = it ? JSON.stringify(it.recipe, null, 1) : "";
  document.body.dataset.current = it ? it.id : "";
}

// How many panes still wait for their picture (for the page's tests and the status line).
function countLoading() {
  $("panes").dataset.loading = String(document.querySelectorAll("#panes .pane.loading").length);
}

function applyZoom() {
  const z = S.zoom;
  for (const m of document.querySelectorAll("#panes img, #panes video")) {
    m.style.transform = `translate(${z.x}px, ${z.y}px) scale(${z.s})`;
  }
  $("panes").dataset.zoom = z.s.toFixed(3);
}

function setupZoom() {
  const panes = $("panes");
  panes.addEventListener("wheel", (e) => {
    e.preventDefault();
    S.zoom.s = Math.min(16, Math.max(1, S.zoom.s * (e.deltaY < 0 ? 1.2 : 1 / 1.2)));
    if (S.zoom.s === 1) { S.zoom.x = 0; S.zoom.y = 0; }
    applyZoom();
  }, { passive: false });
  let drag = null;
  panes.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY }; });
  window.addEventListener("pointerup", () => { drag = null; });
  window.addEventListener("pointermove", (e) => {
    if (!drag) return;
    S.zoom.x += e.clientX - drag.x; S.zoom.y += e.clientY - drag.y;
    drag = { x: e.clientX, y: e.clientY };
    applyZoom();
  });
  panes.addEventListener("dblclick", () => { S.zoom = { s: 1, x: 0, y: 0 }; applyZoom(); });
}

// --- actions -------------------------------------------------------------------------

function current() { return S.view[S.cursor]; }

function move(delta) {
  if (!S.view.length) return;
  S.cursor = Math.min(S.view.length - 1, Math.max(0, S.cursor + delta));
  scrollToCursor(); renderCells(); renderView();
}

function toggleMark() {
  const it = current(); if (!it) return;
  const i = S.marked.indexOf(it.id);
  if (i >= 0) S.marked.splice(i, 1); else { S.marked.push(it.id); if (S.marked.length > 4) S.marked.shift(); }
  status(`${S.marked.length} marked${S.marked.length === 2 || S.marked.length === 4 ? " (c: compare)" : ""}`);
  renderCells(); renderView();
}

function updateItem(id, fields) {
  const it = S.items.find((x) => x.id === id);
  if (it) Object.assign(it, fields);
}

async function mark(fields) {
  const it = current(); if (!it) return;
  try {
    const res = await api("POST", `/api/cues/${enc(S.cue)}/mark`, { id: it.id, ...fields });
    updateItem(it.id, { rating: res.rating, rejected: res.rejected });
    status(res.rejected && fields.rejected ? `rejected ${label(it)}` :
           `${label(it)}: ${res.rating ? stars(res.rating) : "not rated"}${res.rejected ? " (rejected)" : ""}`);
    applyFilters(passes(it) ? it.id : undefined);
  } catch (e) { status(e.message, true); }
}

async function pick() {
  const it = current(); if (!it) return;
  try {
    const res = await api("POST", `/api/cues/${enc(S.cue)}/pick`, { id: it.id });
    S.picked = res.id;
    status(`picked ${res.id} for cue ${res.cue}: ${res.media}`);
    renderCells(); renderView();
  } catch (e) { status(e.message, true); }
}

async function undoPick() {
  try {
    const res = await api("POST", "/api/undo", {});
    if (res.cue === S.cue) S.picked = res.id;
    status(`undid the pick of ${res.undone} for cue ${res.cue}: ` +
           (res.id ? `${res.id} is picked again` : "the cue has no pick"));
    renderCells(); renderView();
  } catch (e) { status(e.message, true); }
}

async function more(mode) {
  const it = current(); if (!it) return;
  try {
    const res = await api("POST", `/api/cues/${enc(S.cue)}/more`, { id: it.id, mode, count: 8 });
    S.jobs[res.id] = res; showJobs();
    status(`queued ${res.total} jobs (${mode === "finer" ? "finer grid" : "new seeds"}) around ${label(it)}`);
  } catch (e) { status(e.message, true); }
}

function showJobs() {
  const parts = Object.values(S.jobs).filter((j) => j.state !== "done" || j.fresh)
    .map((j) => `#${j.id} ${j.mode} ${j.done}/${j.total} ${j.state}` +
      (j.failed ? ` (${j.failed} failed: ${j.message})` : j.state === "failed" ? `: ${j.message}` : ""));
  $("jobs").textContent = parts.join(" \u00b7 ");
}

function onKey(e) {
  if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
  if ((e.ctrlKey || e.metaKey) && e.key === "z") { e.preventDefault(); undoPick(); return; }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const cols = columns();
  const table = {
    ArrowLeft: () => move(-1), ArrowRight: () => move(1),
    ArrowUp: () => move(-cols), ArrowDown: () => move(cols),
    Home: () => move(-S.cursor), End: () => move(S.view.length),
    PageUp: () => move(-cols * 4), PageDown: () => move(cols * 4),
    " ": toggleMark, Enter: pick, x: () => mark({ rejected: !(current() || {}).rejected }),
    c: () => { S.compare = !S.compare; renderView(); }, m: () => more("seeds"),
    f: () => more("finer"), u: undoPick, 0: () => mark({ rating: 0 }),
  };
  for (let n = 1; n <= 5; n++) table[String(n)] = () => mark({ rating: n });
  const fn = table[e.key];
  if (fn) { e.preventDefault(); fn(); }
}

// --- pushes ----------------------------------------------------------------------------

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws?${T}`);
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "hello") document.body.dataset.socket = "open";
    if (m.cue !== S.cue && m.type !== "job") return;
    if (m.type === "mark") { updateItem(m.id, { rating: m.rating, rejected: m.rejected }); renderCells(); }
    if (m.type === "picked") { S.picked = m.id; renderCells(); renderView(); }
    if (m.type === "added" && !S.items.some((it) => it.id === m.item.id)) {
      S.items.push(m.item);
      S.items.sort((a, b) => (a.seed ?? 1e18) - (b.seed ?? 1e18) || a.id.localeCompare(b.id));
      applyFilters();
    }
    if (m.type === "job") { m.fresh = true; S.jobs[m.id] = m; showJobs(); }
  };
  ws.onclose = () => { document.body.dataset.socket = "closed"; setTimeout(connect, 1000); };
}

window.addEventListener("DOMContentLoaded", async () => {
  document.addEventListener("keydown", onKey);
  $("grid").addEventListener("scroll", () => requestAnimationFrame(renderCells));
  window.addEventListener("resize", () => { layoutGrid(); renderCells(); });
  $("grid").addEventListener("click", (e) => {
    const cell = e.target.closest(".cell");
    if (cell) { S.cursor = +cell.dataset.i; renderCells(); renderView(); $("grid").focus(); }
  });
  $("cue").addEventListener("change", (e) => loadCue(e.target.value));
  for (const id of ["f-rating", "f-rejected", "f-value"]) $(id).addEventListener("change", () => applyFilters());
  $("f-seed").addEventListener("input", () => applyFilters());
  $("b-pick").onclick = pick;
  $("b-undo").onclick = undoPick;
  $("b-reject").onclick = () => mark({ rejected: !(current() || {}).rejected });
  $("b-more").onclick = () => more("seeds");
  $("b-finer").onclick = () => more("finer");
  $("b-compare").onclick = () => { S.compare = !S.compare; renderView(); };
  setupZoom();
  connect();
  try { await loadCues(); } catch (e) { status(e.message, true); }
  $("grid").focus();
  document.body.dataset.ready = "1";
});
