// The console page: one WebSocket to the show (protocol in app/web/protocol.py).
// Plain JavaScript, no build step, nothing loaded from the internet.
"use strict";

const HOLD_MS = 800;          // hold-to-confirm time of BLACKOUT, PANIC and unlock
const STALE_MS = 3000;        // silence before the STALE banner
const DEAD_MS = 6000;         // silence before the socket is abandoned and redialled
const BACKOFF = [250, 500, 1000, 2000, 4000];
const FADER_SEND_MS = 33;     // at most ~30 fader messages a second

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get("token") || sessionStorage.getItem("console-token") || "";
if (params.get("token")) {
  sessionStorage.setItem("console-token", token);
  history.replaceState(null, "", location.pathname); // keep the token off the screen
}

let ws = null;
let attempt = 0;
let lastHeard = 0;
let show = null;
let state = null;
let role = "view";
let nextId = 1;
let rtt = null;
const pending = new Map(); // command id -> {name, sent}

// --- connection -----------------------------------------------------------------------

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const sock = new WebSocket(`${proto}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  ws = sock;
  setLink("connecting", false);
  sock.onopen = () => { attempt = 0; lastHeard = performance.now(); setLink("online", true); };
  sock.onmessage = (ev) => {
    if (sock !== ws) return;
    lastHeard = performance.now();
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    handle(msg);
  };
  sock.onclose = () => {
    if (sock !== ws) return;
    ws = null;
    redial();
  };
}

function redial() {
  setLink("offline", false);
  const delay = BACKOFF[Math.min(attempt, BACKOFF.length - 1)];
  attempt += 1;
  setTimeout(connect, delay);
}

function abandon() {
  // a socket can look open while the link is dead (a tablet that slept): drop it, redial
  const old = ws;
  ws = null;
  if (old) { try { old.close(); } catch (e) { /* already gone */ } }
  redial();
}

setInterval(() => {
  const silent = performance.now() - lastHeard;
  const stale = lastHeard > 0 && silent > STALE_MS;
  $("stale").hidden = !stale;
  document.body.classList.toggle("is-stale", stale);
  if (stale) $("stale-s").textContent = Math.floor(silent / 1000);
  if (ws && ws.readyState === WebSocket.OPEN && silent > DEAD_MS) abandon();
}, 250);

setInterval(() => {
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify({ type: "ping", t: performance.now(), rtt }));
  }
}, 1000);

function setLink(text, ok) {
  const el = $("link");
  el.textContent = text;
  el.className = "badge " + (ok ? "ok" : "bad");
}

function send(obj) {
  if (!ws || ws.readyState !== WebSocket.OPEN) { toast("not connected"); return null; }
  ws.send(JSON.stringify(obj));
  return obj.id;
}

function command(name, args) {
  const id = "c" + nextId++;
  pending.set(id, { name, sent: performance.now() });
  return send({ type: "command", id, name, args: args || {} });
}

// --- messages -------------------------------------------------------------------------

function handle(msg) {
  switch (msg.type) {
    case "snapshot":
      role = msg.role;
      show = msg.show;
      buildShow();
      setState(msg.state);
      break;
    case "show":
      show = msg.show;
      buildShow();
      if (state) setState(state);
      break;
    case "update":
      setState(msg.state);
      break;
    case "pong":
      if (typeof msg.t === "number") rtt = performance.now() - msg.t;
      $("h-rtt").textContent = `rtt ${rtt === null ? "-" : rtt.toFixed(0)} ms`;
      break;
    case "ack":
      acked(msg);
      break;
    case "program":
      if ($("program-on").checked) {
        const img = $("program");
        img.src = `/api/program.jpg?token=${encodeURIComponent(token)}&n=${msg.n}`;
        img.hidden = false;
      }
      break;
    case "error":
      toast(msg.error);
      break;
    default:
      break; // heartbeat: lastHeard is enough
  }
}

function acked(msg) {
  const p = pending.get(msg.id);
  pending.delete(msg.id);
  if (!msg.ok) { toast(msg.error || "refused"); if (p && p.name === "go") flashGo(); return; }
  if (msg.note && /ignored/i.test(msg.note)) {
    if (p && p.name === "go") flashGo();
    toast(msg.note);
  }
}

function flashGo() {
  const go = $("go");
  go.classList.remove("ignored");
  void go.offsetWidth; // restart the animation
  go.classList.add("ignored");
}

let toastTimer = 0;
function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("show"), 2500);
}

// --- the show -------------------------------------------------------------------------

function allCues() { return show ? show.poems.flatMap((p) => p.cues) : []; }
function cueAt(i) { return i === null || i === undefined ? null : allCues()[i] || null; }
function poemOf(i) {
  if (!show || i === null || i === undefined) return null;
  return show.poems.find((p) => p.cues.some((c) => c.index === i)) || null;
}

function fmtLen(s) {
  if (s === null || s === undefined) return "";
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
}

function buildShow() {
  $("show-title").textContent = show.title;
  document.title = show.title + " - console";
  document.documentElement.style.setProperty("--aspect", String(show.aspect || 16 / 9));
  const nav = $("poems");
  nav.textContent = "";
  for (const p of show.poems) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.poem = p.id;
    b.dataset.always = "1";
    b.textContent = `${p.id} ${p.title}`;
    b.setAttribute("aria-label", `Poem ${p.id} ${p.title}`);
    b.onclick = () => command("standby", { poem: p.id });
    nav.appendChild(b);
  }
  const lf = $("layer-faders");
  lf.textContent = "";
  for (const n of show.layers) {
    lf.appendChild(makeFader(`f-l${n}-opacity`, `Layer ${n} opacity`, 0, 1, 0.001,
      "layer_opacity", (v) => ({ layer: n, opacity: v }), 1));
    lf.appendChild(makeFader(`f-l${n}-rate`, `Layer ${n} rate`, 0, 4, 0.01,
      "layer_rate", (v) => ({ layer: n, rate: v }), 1));
  }
  shownPoem = null;
}

function makeFader(id, label, min, max, step, cmd, args, value) {
  const div = document.createElement("div");
  div.className = "fader";
  div.innerHTML = `<label for="${id}"></label><input id="${id}" type="range" min="${min}" max="${max}" step="${step}" value="${value}"><output for="${id}"></output>`;
  div.querySelector("label").textContent = label;
  div.querySelector("output").textContent = Number(value).toFixed(3);
  wireFader(div.querySelector("input"), cmd, args);
  return div;
}

let shownPoem = null;
function buildCues(poem) {
  shownPoem = poem ? poem.id : null;
  const list = $("cues");
  list.textContent = "";
  $("poem-notes").textContent = poem && poem.notes ? poem.notes : "";
  if (!poem) return;
  for (const c of poem.cues) {
    const li = document.createElement("li");
    li.dataset.index = c.index;
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.always = "1";
    b.setAttribute("aria-label", `Standby cue ${c.id}`);
    const pic = document.createElement("div");
    pic.className = "pic";
    if (c.thumb) {
      const img = document.createElement("img");
      img.alt = "";
      img.src = `/api/thumb/${c.thumb}.jpg?token=${encodeURIComponent(token)}`;
      pic.appendChild(img);
    } else {
      pic.textContent = c.kind;
    }
    const meta = document.createElement("div");
    meta.className = "meta";
    const len = fmtLen(c.length);
    meta.innerHTML = `<b></b> <span class="dim"></span><div class="cue-notes"></div>`;
    meta.querySelector("b").textContent = c.id;
    meta.querySelector(".dim").textContent =
      `${c.kind}${len ? " " + len : ""} · fade ${c.fade}s${show.layers.length > 1 ? " · L" + c.layer : ""}` +
      (c.follow ? ` · follow ${c.follow}` : "");
    meta.querySelector(".cue-notes").textContent = c.notes || "";
    b.append(pic, meta);
    b.onclick = () => command("standby", { poem: poem.id, cue: c.id });
    li.appendChild(b);
    list.appendChild(li);
  }
}

function setState(s) {
  state = s;
  if (!show) return;
  const live = cueAt(s.live);
  const next = cueAt(s.standby);
  const poem = poemOf(s.live !== null ? s.live : s.standby) || poemOf(s.standby);
  const focus = poemOf(s.standby) || poem;
  $("poem-title").textContent = poem ? `· ${poem.id} ${poem.title}` : "";
  $("live-cue").textContent = live ? `${live.id}  ${live.media}` : "-";
  $("live-notes").textContent = live && live.notes ? live.notes : "";
  $("next-cue").textContent = next ? `${next.id}  ${next.media}` : "end of show";
  $("next-notes").textContent = next && next.notes ? next.notes : "";
  const f = s.follow;
  $("follow").hidden = !f;
  if (f) {
    const when = f.remaining === null ? "at the clip's end" : `in ${Math.max(0, f.remaining).toFixed(1)} s`;
    $("follow").textContent = `FOLLOW ${f.cue} ${when}`;
  }
  if (focus && focus.id !== shownPoem) buildCues(focus);
  for (const b of $("poems").children) b.classList.toggle("current", !!focus && b.dataset.poem === focus.id);
  for (const li of $("cues").children) {
    const i = Number(li.dataset.index);
    li.classList.toggle("live", s.on_stage.some((e) => e.cue === i && e.weight > 0));
    li.classList.toggle("standby", i === s.standby);
  }
  $("blackout").classList.toggle("state-on", !!s.blackout);
  setFader($("f-master"), s.master);
  setFader($("f-tbar"), s.crossfade === null ? 0 : s.crossfade);
  for (const l of s.layers) {
    setFader($(`f-l${l.layer}-opacity`), l.opacity);
    setFader($(`f-l${l.layer}-rate`), l.rate);
  }
  const lock = $("lock");
  lock.classList.toggle("on", !!s.locked);
  lock.textContent = s.locked ? "LOCKED" : "LOCK";
  lock.setAttribute("aria-label", s.locked ? "Hold to unlock the show" : "Show lock");
  $("role").textContent = role === "operate" ? "operate" : "VIEW ONLY";
  for (const el of document.querySelectorAll("button, input")) {
    if (el.id === "program-on") continue;
    const always = el.dataset.always === "1" || el.id === "go";
    el.disabled = role !== "operate" || (!!s.locked && !always && el.id !== "lock");
  }
  const h = s.health || {};
  $("h-fps").textContent = `${h.fps ?? "-"} fps`;
  $("h-dropped").textContent = `dropped ${h.dropped ?? "-"}`;
  $("h-frame").textContent = `frame ${h.frame_ms ?? "-"} ms`;
  $("h-src").textContent = `src ${h.source ?? "-"}`;
  $("h-pads").textContent = `pads ${(h.pads || []).join(", ") || "none"}`;
  $("h-osc").textContent = `osc ${h.osc_clients ?? 0}`;
  const consoles = s.consoles || [];
  $("h-consoles").textContent = `consoles ${consoles.length}: ` +
    consoles.map((c) => `${c.agent}${c.role === "view" ? " (view)" : ""}`).join(", ");
  $("h-warn").textContent = (h.warnings || []).slice(-1).join(" ");
}

// --- faders: the server moves them, but never under a finger ---------------------------

function setFader(input, value) {
  if (!input || value === null || value === undefined) return;
  if (input.dataset.held === "1") return;
  input.value = value;
  const out = input.parentElement.querySelector("output");
  if (out) out.textContent = Number(value).toFixed(3);
}

function wireFader(input, cmd, args) {
  let timer = 0;
  let lastSent = 0;
  const out = input.parentElement.querySelector("output");
  const flush = () => {
    timer = 0;
    lastSent = performance.now();
    command(cmd, args(Number(input.value)));
  };
  const hold = () => { input.dataset.held = "1"; };
  const release = () => {
    if (timer) { clearTimeout(timer); flush(); }
    // keep the hand's value until the server's answer to the last send has arrived
    setTimeout(() => { input.dataset.held = "0"; if (state) setState(state); }, 300);
  };
  input.addEventListener("pointerdown", hold);
  input.addEventListener("focus", hold);
  input.addEventListener("pointerup", release);
  input.addEventListener("pointercancel", release);
  input.addEventListener("blur", release);
  input.addEventListener("change", release);
  input.addEventListener("input", () => {
    hold();
    if (out) out.textContent = Number(input.value).toFixed(3);
    const wait = FADER_SEND_MS - (performance.now() - lastSent);
    if (wait <= 0) flush();
    else if (!timer) timer = setTimeout(flush, wait);
  });
}

wireFader($("f-master"), "master", (v) => ({ level: v }));
wireFader($("f-tbar"), "tbar", (v) => ({ position: v }));

// --- buttons --------------------------------------------------------------------------

$("go").onclick = () => command("go");
$("back").onclick = () => command("back");
$("prev-cue").onclick = () => command("standby_prev");
$("next-cue-btn").onclick = () => command("standby_next");
$("prev-poem").onclick = () => command("poem_prev");
$("next-poem").onclick = () => command("poem_next");

function holdToConfirm(button, action) {
  const fill = document.createElement("span");
  fill.className = "fill";
  button.appendChild(fill);
  button.style.setProperty("--hold", HOLD_MS + "ms");
  let timer = 0;
  const cancel = () => { clearTimeout(timer); timer = 0; button.classList.remove("holding"); };
  const start = (ev) => {
    if (button.disabled || timer) return;
    if (ev && ev.type === "keydown" && ev.key !== " " && ev.key !== "Enter") return;
    if (ev && ev.type === "keydown" && ev.repeat) return;
    button.classList.add("holding");
    timer = setTimeout(() => { cancel(); action(); }, HOLD_MS);
  };
  button.addEventListener("pointerdown", start);
  button.addEventListener("pointerup", cancel);
  button.addEventListener("pointerleave", cancel);
  button.addEventListener("pointercancel", cancel);
  button.addEventListener("keydown", start);
  button.addEventListener("keyup", cancel);
  button.addEventListener("click", (ev) => {
    if (!button.classList.contains("holding")) toast("hold to confirm");
    ev.preventDefault();
  });
}

holdToConfirm($("blackout"), () => command("blackout"));
holdToConfirm($("panic"), () => command("panic"));

// the lock: one tap locks, unlocking needs a hold
const lockButton = $("lock");
let lockTimer = 0;
lockButton.addEventListener("pointerdown", () => {
  if (lockButton.disabled || !state) return;
  if (!state.locked) { send({ type: "lock", id: "c" + nextId++, on: true }); return; }
  lockButton.classList.add("holding");
  lockTimer = setTimeout(() => {
    lockButton.classList.remove("holding");
    send({ type: "lock", id: "c" + nextId++, on: false });
  }, HOLD_MS);
});
for (const ev of ["pointerup", "pointerleave", "pointercancel"]) {
  lockButton.addEventListener(ev, () => { clearTimeout(lockTimer); lockButton.classList.remove("holding"); });
}

$("program-on").addEventListener("change", (ev) => {
  send({ type: "program", on: ev.target.checked });
  if (!ev.target.checked) $("program").hidden = true;
});

connect();
