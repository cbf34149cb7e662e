// The console page: one WebSocket to the show (protocol in app/web/protocol.py).
// Plain JavaScript, no build step, nothing loaded from the internet.
//
// Truth first: the page shows what the show loop last said, not what it believes. The show
// loop's frame counter comes ~10 times a second; when it stops advancing for FRAME_STALE_MS
// the page says STALE and every control that acts on the show is off until frames come
// again. Every command is shown pending until its answer, carries a deadline (the show
// refuses it after that, never applies it late) and is shown "not applied" when refused.
"use strict";

const HOLD_MS = 800;          // hold-to-confirm time of BLACKOUT, PANIC and unlock
const FRAME_STALE_MS = 1000;  // no new frame from the show loop for this long: STALE
const LINK_DEAD_MS = 6000;    // silence before the socket is abandoned and redialled
const BACKOFF = [250, 500, 1000, 2000, 4000];
const FADER_SEND_MS = 33;     // at most ~30 fader messages a second
const TTL_MS = 1000;          // a command's time to reach the show loop (GO, BACK, ...)
const FADER_TTL_MS = 300;     // a fader's: an old position is worth nothing
const ANSWER_MS = 1500;       // beyond the deadline: no answer means it was not applied
const ARM_MS = 3000;          // a cue tapped once waits this long for the confirming tap
const DEAD_ZONE_PX = 4;       // a finger that moves less than this has only tapped

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get("token") || sessionStorage.getItem("console-token") || "";
if (params.get("token")) {
  sessionStorage.setItem("console-token", token);
  history.replaceState(null, "", location.pathname); // keep the token off the screen
}

let ws = null;
let attempt = 0;
let lastHeard = 0;      // any message from the console server
let frame = null;       // the show loop's frame counter, last heard
let showT = null;       // the show loop's show time at `frame`
let frameAt = 0;        // page time when `frame` last advanced
let stale = true;       // until the first frames arrive
let staleSince = 0;
let show = null;
let state = null;
let role = "view";
let nextId = 1;
let rtt = null;         // page -> show loop -> page, ms
let pingOut = null;     // page time of the ping not yet answered
const pending = new Map(); // command id -> {name, label, sent, ttl, button, quiet, timer}
// what tests and the health line read: when frames last advanced, when STALE began
window.consoleTruth = { frame: null, frameAt: 0, staleAt: null, lastFrameBeforeStale: 0, sent: 0 };

// --- connection -----------------------------------------------------------------------

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const sock = new WebSocket(`${proto}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  ws = sock;
  setLink("connecting", false);
  sock.onopen = () => {
    attempt = 0; lastHeard = performance.now(); setLink("online", true);
    ping();
  };
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

function online() { return !!ws && ws.readyState === WebSocket.OPEN; }

function heardFrame(f, t) {
  if (typeof f !== "number") return;
  if (frame === null || f !== frame) {
    frame = f;
    frameAt = performance.now();
    window.consoleTruth.frame = f;
    window.consoleTruth.frameAt = frameAt;
  }
  if (typeof t === "number") showT = t;
  checkStale();
}

function checkStale() {
  const now = performance.now();
  const silent = now - lastHeard;
  const frozen = frame === null ? Infinity : now - frameAt;
  const was = stale;
  stale = !online() || frozen > FRAME_STALE_MS;
  if (stale && !was) {
    staleSince = now;
    window.consoleTruth.staleAt = now;
    window.consoleTruth.lastFrameBeforeStale = frameAt;
  }
  if (!stale && was) window.consoleTruth.staleAt = null;
  let why = "the show is not answering";
  if (!online()) why = "no link to the console";
  else if (silent > 2000) why = "no word from the console server";
  else if (frame === null) why = "waiting for the show's first frame";
  $("stale-why").textContent = why;
  $("stale-s").textContent = frame === null ? "-" : (frozen / 1000).toFixed(1);
  $("stale").hidden = !stale;
  document.body.classList.toggle("is-stale", stale);
  const hs = $("h-show");
  hs.textContent = stale ? `show STALE (frame ${frame ?? "-"})` : `show frame ${frame}`;
  hs.classList.toggle("bad", stale);
  if (was !== stale) applyBlocks();
  if (online() && silent > LINK_DEAD_MS) abandon();
}

setInterval(checkStale, 100);

function ping() {
  if (!online()) return;
  if (pingOut !== null && performance.now() - pingOut < 5000) return; // one at a time
  pingOut = performance.now();
  ws.send(JSON.stringify({ type: "ping", t: pingOut, rtt }));
}
setInterval(() => {
  ping();
  showRtt();
}, 1000);

function showRtt() {
  const el = $("h-rtt");
  if (pingOut !== null && performance.now() - pingOut > 1500) {
    el.textContent = `rtt - (no answer from the show for ${((performance.now() - pingOut) / 1000).toFixed(0)} s)`;
  } else {
    el.textContent = `rtt ${rtt === null ? "-" : rtt.toFixed(0)} ms`;
  }
}

function setLink(text, ok) {
  const el = $("link");
  el.textContent = text;
  el.className = "badge " + (ok ? "ok" : "bad");
  checkStaleSoon();
}
function checkStaleSoon() { setTimeout(checkStale, 0); }

// --- commands: pending until answered, refused when late --------------------------------

// Whether controls that act on the show may be used now; the reason when not.
function blockedWhy() {
  if (role !== "operate") return "view only";
  if (!online()) return "no link to the console";
  if (stale) return "STALE: the show is not answering";
  return null;
}

function command(name, args, opts) {
  opts = opts || {};
  const label = opts.label || name.toUpperCase();
  const why = blockedWhy();
  if (why) {
    if (!opts.quiet) {
      setCmdStatus(`${label} not sent: ${why}`, "bad");
      toast(`${label} not sent: ${why}`, true);
    }
    return null;
  }
  const id = "c" + nextId++;
  const ttl = opts.ttl || TTL_MS;
  const sent = performance.now();
  const p = { name, label, sent, ttl, button: opts.button || null, quiet: !!opts.quiet };
  pending.set(id, p);
  if (p.button) p.button.classList.add("pending");
  if (!p.quiet) setCmdStatus(`${label} pending...`, "");
  p.timer = setTimeout(() => unanswered(id), ttl + ANSWER_MS);
  ws.send(JSON.stringify({ type: "command", id, name, args: args || {}, sent, ttl }));
  window.consoleTruth.sent += 1;
  return id;
}

function unanswered(id) {
  const p = pending.get(id);
  if (!p) return;
  pending.delete(id);
  done(p);
  // the show refuses a command after its deadline: with no answer by now, it was not applied
  const text = `${p.label} NOT APPLIED: no answer from the show in time`;
  setCmdStatus(text, "bad");
  toast(text, true);
  if (p.name === "go") flashGo();
}

function done(p) {
  clearTimeout(p.timer);
  if (p.button && ![...pending.values()].some((q) => q.button === p.button)) {
    p.button.classList.remove("pending");
  }
}

function acked(msg) {
  const p = pending.get(msg.id);
  if (!p) return; // answered already ("not applied" after the deadline): the show refused it
  pending.delete(msg.id);
  done(p);
  const ms = (performance.now() - p.sent).toFixed(0);
  if (!msg.ok) {
    const why = msg.error || "refused";
    const text = /^not applied/i.test(why) ? `${p.label} NOT APPLIED: ${why.replace(/^not applied:\s*/i, "")}`
      : `${p.label} refused: ${why}`;
    setCmdStatus(text, "bad");
    toast(text, true);
    if (p.name === "go") flashGo();
    return;
  }
  if (msg.note && /ignored/i.test(msg.note)) {
    if (p.name === "go") flashGo();
    setCmdStatus(`${p.label}: ${msg.note}`, "bad");
    toast(msg.note);
    return;
  }
  if (!p.quiet) setCmdStatus(`${p.label} applied (${ms} ms)`, "ok");
}

function setCmdStatus(text, kind) {
  const el = $("cmd-status");
  el.textContent = text;
  el.className = "cmd-status " + (kind || "");
}

function flashGo() {
  const go = $("go");
  go.classList.remove("ignored");
  void go.offsetWidth; // restart the animation
  go.classList.add("ignored");
}

function toast(text, bad) {
  const box = $("toasts");
  const el = document.createElement("div");
  el.textContent = text;
  if (bad) el.className = "bad";
  box.appendChild(el);
  while (box.children.length > 3) box.removeChild(box.firstChild);
  setTimeout(() => el.remove(), bad ? 5000 : 2500);
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
      heardFrame(msg.frame, msg.t);
      setState(msg.state);
      break;
    case "tick":
      heardFrame(msg.frame, msg.t);
      tickLive();
      break;
    case "heartbeat":
      heardFrame(msg.frame, msg.show_t);
      break;
    case "pong":
      if (typeof msg.t === "number" && msg.t === pingOut) {
        rtt = performance.now() - msg.t;
        pingOut = null;
      }
      heardFrame(msg.frame);
      showRtt();
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
      toast(msg.error, true);
      break;
    default:
      break;
  }
}

// --- the show -------------------------------------------------------------------------

function allCues() { return show ? show.poems.flatMap((p) => p.cues) : []; }
function cueAt(i) { return i === null || i === undefined ? null : allCues()[i] || null; }
function poemOf(i) {
  if (!show || i === null || i === undefined) return null;
  return show.poems.find((p) => p.cues.some((c) => c.index === i)) || null;
}

function fmtLen(s) {
  if (s === null || s === undefined || !isFinite(s)) return "";
  s = Math.max(0, s);
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
}

function cueName(c) {
  const p = poemOf(c.index);
  return p ? `${c.id} · ${p.title}` : c.id;
}

let viewPoem = null;     // the poem whose cues the list shows
let browsing = false;    // the performer picked it (else it follows the show)
let focusPoem = null;    // the show's poem (standby's, else live's)

// what the poem strip and the faders were last built from: a new show description (thumbnails
// made, the show file reloaded) rebuilds only what changed, so a finger on a fader or a poem
// button keeps its element
let builtPoems = null;
let builtLayers = null;

function buildShow() {
  $("show-title").textContent = show.title;
  document.title = show.title + " - console";
  document.documentElement.style.setProperty("--aspect", String(show.aspect || 16 / 9));
  viewPoem = null;
  const poemsKey = JSON.stringify(show.poems.map((p) => [p.id, p.title]));
  if (poemsKey !== builtPoems) {
    builtPoems = poemsKey;
    buildPoemStrip();
  }
  const layersKey = JSON.stringify(show.layers);
  if (layersKey !== builtLayers) {
    builtLayers = layersKey;
    buildFaders();
  }
  applyBlocks();
}

function buildPoemStrip() {
  const nav = $("poems");
  nav.textContent = "";
  for (const p of show.poems) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.poem = p.id;
    b.textContent = `${p.id} ${p.title}`;
    b.title = `${p.id} ${p.title}`;
    b.setAttribute("aria-label", `Show the cues of poem ${p.id} ${p.title}`);
    b.onclick = () => {
      // browsing only: nothing is sent to the show
      if (b.classList.contains("off")) return;
      browsing = p.id !== focusPoem;
      showPoem(p.id);
    };
    nav.appendChild(b);
  }
}

function buildFaders() {
  const mf = $("main-faders");
  mf.textContent = "";
  mf.appendChild(makeFader("f-master", "Master", 0, 1, "master", (v) => ({ level: v }), 1, true));
  mf.appendChild(makeFader("f-tbar", "T-bar", 0, 1, "tbar", (v) => ({ position: v }), 0));
  const lf = $("layer-faders");
  lf.textContent = "";
  for (const n of show.layers) {
    lf.appendChild(makeFader(`f-l${n}-opacity`, `Layer ${n} opacity`, 0, 1,
      "layer_opacity", (v) => ({ layer: n, opacity: v }), 1, false, `L${n} opacity`));
    lf.appendChild(makeFader(`f-l${n}-rate`, `Layer ${n} rate`, 0, 4,
      "layer_rate", (v) => ({ layer: n, rate: v }), 1, false, `L${n} rate`));
  }
}

function showPoem(id) {
  const poem = show.poems.find((p) => p.id === id);
  if (!poem) return;
  const changed = viewPoem !== id;
  if (changed) buildCues(poem);
  for (const b of $("poems").children) {
    b.classList.toggle("viewing", b.dataset.poem === id);
    b.classList.toggle("current", b.dataset.poem === focusPoem);
  }
  // only when it changed: a performer scrolling the strip is not pulled back 30 times a second
  if (changed) keepInView($("poems"), [...$("poems").children].find((b) => b.dataset.poem === id));
  if (state) markCues(state);
}

function keepInView(strip, chip) {
  // scroll the strip itself only (scrollIntoView would scroll the page's boxes too)
  if (!chip) return;
  const left = chip.offsetLeft - strip.offsetLeft;
  if (left < strip.scrollLeft || left + chip.offsetWidth > strip.scrollLeft + strip.clientWidth) {
    strip.scrollLeft = Math.max(0, left - (strip.clientWidth - chip.offsetWidth) / 2);
  }
}

function buildCues(poem) {
  viewPoem = poem.id;
  const list = $("cues");
  list.textContent = "";
  $("poem-name").textContent = `${poem.id} ${poem.title}`;
  $("poem-notes").textContent = poem.notes || "";
  for (const c of poem.cues) {
    const li = document.createElement("li");
    li.dataset.index = c.index;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "cue";
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
    const head = document.createElement("div");
    head.className = "head";
    head.innerHTML = `<b></b><span class="kind"></span><span class="state"></span>`;
    head.querySelector("b").textContent = c.id;
    head.querySelector(".kind").textContent = c.kind;
    const facts = document.createElement("div");
    facts.className = "facts";
    const len = fmtLen(c.length);
    const parts = [c.fade > 0 ? `fade ${c.fade} s` : "cut"];
    if (len) parts.push(`${len}${c.loop ? " loop" : ""}`);
    if (show.layers.length > 1) parts.push(`layer ${c.layer}`);
    if (c.follow) parts.push(`follow ${c.follow}`);
    facts.textContent = parts.join(" · ");
    const notes = document.createElement("div");
    notes.className = "cue-notes";
    notes.textContent = c.notes || "";
    b.append(pic, head, facts, notes);
    b.onclick = () => tapCue(li, poem, c);
    li.appendChild(b);
    list.appendChild(li);
  }
  applyBlocks();
}

// a cue is put in standby by a confirmed tap: the first tap arms it, a second one sends
let armed = null;
let armTimer = 0;
function tapCue(li, poem, c) {
  const b = li.querySelector("button");
  if (b.classList.contains("off")) { refusedTap(b, `STANDBY ${c.id}`); return; }
  if (armed === li) {
    disarm();
    command("standby", { poem: poem.id, cue: c.id }, { label: `STANDBY ${c.id}`, button: b });
    return;
  }
  disarm();
  armed = li;
  li.classList.add("armed");
  li.querySelector(".state").textContent = "tap again to standby";
  setCmdStatus(`tap ${c.id} again to put it in standby`, "");
  armTimer = setTimeout(disarm, ARM_MS);
}
function disarm() {
  clearTimeout(armTimer);
  if (armed) {
    armed.classList.remove("armed");
    armed.querySelector(".state").textContent = "";
  }
  armed = null;
  if (state) markCues(state);
}

function markCues(s) {
  for (const li of $("cues").children) {
    const i = Number(li.dataset.index);
    const live = (s.on_stage || []).some((e) => e.cue === i && e.weight > 0);
    li.classList.toggle("live", live);
    li.classList.toggle("standby", i === s.standby);
    if (li === armed) continue;
    const under = live && isBlack(s) ? "LIVE (under black)" : "LIVE";
    li.querySelector(".state").textContent = live ? under : i === s.standby ? "NEXT" : "";
    let bar = li.querySelector(".prog");
    const fading = live && s.transition !== null && s.transition !== undefined && s.transition < 1;
    if (fading) {
      if (!bar) {
        bar = document.createElement("div");
        bar.className = "prog";
        bar.innerHTML = "<i></i>";
        li.querySelector("button").appendChild(bar);
      }
      bar.firstChild.style.width = `${Math.round(s.transition * 100)}%`;
    } else if (bar) {
      bar.remove();
    }
  }
}

function isBlack(s) {
  if (s.black >= 0.999) return true;
  return !(s.on_stage || []).some((e) => e.weight > 0);
}

function setState(s) {
  // until the show loop publishes its first state the server has only the lock and the
  // consoles: nothing of the stage to show (STALE says "waiting for the show's first frame")
  if (!s || !Array.isArray(s.layers)) return;
  state = s;
  if (!show) return;
  const live = cueAt(s.live);
  const next = cueAt(s.standby);
  const focus = (poemOf(s.standby) || poemOf(s.live) || {}).id || null;
  if (focus !== focusPoem) browsing = false; // the show moved on: the list follows it again
  focusPoem = focus;
  // LIVE shows the stage: black after PANIC or HARD BLACK, during blackout, before any GO
  const black = isBlack(s);
  const lc = $("live-cue");
  if (black || s.panic) {
    lc.textContent = black ? "BLACK" : "\u2192 BLACK";
    lc.classList.add("black");
  } else {
    lc.textContent = live ? live.id : "-";
    lc.classList.remove("black");
  }
  let detail = live ? (poemOf(live.index) || {}).title || "" : "";
  if (black || s.panic) {
    const why = s.blackout ? "blackout" : s.panic ? (black ? "PANIC" : "PANIC: fading out") : s.black >= 0.999 ? "black" : "nothing on stage";
    detail = live ? `${why} · last cue ${live.id}` : why;
  }
  $("live-poem").textContent = detail;
  $("live-notes").textContent = live && !black && live.notes ? live.notes : "";
  $("next-cue").textContent = next ? cueName(next) : "end of show";
  $("next-notes").textContent = next && next.notes ? next.notes : "";
  $("go").innerHTML = "GO";
  if (next) {
    const t = document.createElement("div");
    t.className = "go-target";
    t.textContent = next.id;
    $("go").appendChild(t);
  }
  const fade = $("live-fade");
  const fading = s.transition !== null && s.transition !== undefined && s.transition < 1;
  fade.hidden = !fading;
  if (fading) fade.firstChild.style.width = `${Math.round(s.transition * 100)}%`;
  const f = s.follow;
  $("follow").hidden = !f;
  if (f) {
    const when = f.remaining === null ? "at the clip's end" : `in ${Math.max(0, f.remaining).toFixed(1)} s`;
    $("follow").textContent = `FOLLOW ${f.cue} ${when}`;
  }
  // blackout: a banner over the whole page
  $("blackout-banner").hidden = !s.blackout;
  document.body.classList.toggle("is-blackout", !!s.blackout);
  $("blackout").classList.toggle("state-on", !!s.blackout);
  // master below full, shown where the eye is
  const low = s.master < 0.999;
  const pct = `MASTER ${Math.round(s.master * 100)}%`;
  $("master-big").hidden = !low;
  $("master-big").textContent = pct;
  $("master-badge").hidden = !low;
  $("master-badge").textContent = pct;
  if (!browsing || viewPoem === null) {
    if (focusPoem) showPoem(focusPoem);
  }
  for (const b of $("poems").children) b.classList.toggle("current", b.dataset.poem === focusPoem);
  markCues(s);
  setFader("f-master", s.master);
  setFader("f-tbar", s.tbar === null ? 0 : s.tbar);
  for (const l of s.layers) {
    setFader(`f-l${l.layer}-opacity`, l.opacity);
    setFader(`f-l${l.layer}-rate`, l.rate);
  }
  const lock = $("lock");
  lock.classList.toggle("on", !!s.locked);
  lock.textContent = s.locked ? "LOCKED" : "LOCK";
  lock.setAttribute("aria-label", s.locked ? "Hold to unlock the show" : "Show lock");
  $("role").textContent = role === "operate" ? "operate" : "VIEW ONLY";
  applyBlocks();
  tickLive();
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

// a live video's time left, counted from the show loop's own clock (the ticks)
function tickLive() {
  if (!state || !show || showT === null) return;
  const live = cueAt(state.live);
  let text = "";
  const e = live && (state.on_stage || []).find((x) => x.cue === live.index && x.weight > 0);
  if (e && live.kind === "video" && typeof e.since === "number" && live.length) {
    const clip = (live.end ?? live.length) - (live.start || 0);
    const played = e.base + Math.max(0, showT - e.since) * e.rate;
    if (clip > 0) {
      const left = live.loop ? clip - (played % clip) : clip - played;
      text = live.loop ? `loop, ${fmtLen(left)} left in this pass` : `${fmtLen(left)} left`;
    }
  }
  const shown = isBlack(state) ? "" : text;
  $("live-left").textContent = shown;
  // the live row of the cue list says it too
  for (const li of $("cues").children) {
    if (li === armed || !live || Number(li.dataset.index) !== live.index) continue;
    if (li.classList.contains("live") && shown) li.querySelector(".state").textContent = `LIVE · ${shown}`;
  }
}

// --- controls off while they cannot act ------------------------------------------------

function applyBlocks() {
  const why = blockedWhy();
  const locked = !!(state && state.locked);
  for (const el of document.querySelectorAll("button.act, #cues button, #poems button, .track")) {
    const lockedOut = locked && el.dataset.lock !== "allow";
    const off = !!why || lockedOut;
    // the poem strip only browses: the lock covers it, a STALE show does not
    const browse = el.parentElement && el.parentElement.id === "poems";
    const isOff = browse ? lockedOut : off;
    el.classList.toggle("off", isOff);
    el.setAttribute("aria-disabled", isOff ? "true" : "false");
    if (el.classList.contains("track")) el.tabIndex = isOff ? -1 : 0;
    if (isOff) el.title = lockedOut ? "locked" : why || "";
    else el.removeAttribute("title");
  }
  const lock = $("lock");
  lock.disabled = role !== "operate" || !online();
  if (why && armed) disarm();
  if (why) releaseFaders();
}

function refusedTap(el, label) {
  const locked = state && state.locked && el.dataset.lock !== "allow";
  const what = label ? `${label} ` : "";
  const text = locked ? `${what}locked: hold LOCKED to unlock` : `${what}not sent: ${blockedWhy() || "off"}`;
  toast(text, !locked);
  if (!locked) setCmdStatus(text, "bad");
}

// --- faders: relative drags; a tap never moves one; the server moves them when free ------

const faders = new Map(); // id -> {el, value, min, max, held, send}

function makeFader(id, label, min, max, cmd, args, value, isMaster, short) {
  const div = document.createElement("div");
  div.className = "fader";
  div.innerHTML = `<span class="flabel"></span><div class="track" role="slider" tabindex="0"><div class="fill"></div><div class="knob"></div></div><output></output>`;
  div.querySelector(".flabel").textContent = short || label;
  const track = div.querySelector(".track");
  track.id = id;
  track.setAttribute("aria-label", label);
  track.setAttribute("aria-valuemin", String(min));
  track.setAttribute("aria-valuemax", String(max));
  const f = { el: track, div, value, min, max, held: false, isMaster: !!isMaster, label };
  faders.set(id, f);
  draw(f, value);
  wireFader(f, cmd, args);
  return div;
}

function draw(f, value) {
  const frac = (value - f.min) / (f.max - f.min);
  f.el.querySelector(".fill").style.width = `${Math.max(0, Math.min(1, frac)) * 100}%`;
  f.el.querySelector(".knob").style.left = `${Math.max(0, Math.min(1, frac)) * 100}%`;
  f.el.setAttribute("aria-valuenow", value.toFixed(3));
  f.el.dataset.value = value.toFixed(4);
  f.div.querySelector("output").textContent = f.max === 1 ? `${Math.round(value * 100)}%` : value.toFixed(2);
  if (f.isMaster) f.div.classList.toggle("low", value < 0.999);
}

function setFader(id, value) {
  const f = faders.get(id);
  if (!f || value === null || value === undefined) return;
  f.value = value;
  if (!f.held) draw(f, value);
}

function releaseFaders() {
  for (const f of faders.values()) {
    if (f.held) { f.held = false; f.el.classList.remove("held"); draw(f, f.value); }
  }
}

function wireFader(f, cmd, args) {
  const el = f.el;
  let startX = 0;
  let startValue = 0;
  let moved = false;
  let shown = 0;
  let timer = 0;
  let lastSent = 0;
  let pointer = null;
  const label = f.label.toUpperCase();
  const flush = () => {
    timer = 0;
    lastSent = performance.now();
    command(cmd, args(Number(shown.toFixed(4))), { ttl: FADER_TTL_MS, quiet: true, label });
  };
  const sendSoon = () => {
    const wait = FADER_SEND_MS - (performance.now() - lastSent);
    if (wait <= 0) flush();
    else if (!timer) timer = setTimeout(flush, wait);
  };
  el.addEventListener("pointerdown", (ev) => {
    if (el.classList.contains("off")) { refusedTap(el, f.label.toUpperCase()); return; }
    pointer = ev.pointerId;
    try { el.setPointerCapture(ev.pointerId); } catch (e) { /* synthetic pointer */ }
    startX = ev.clientX;
    startValue = f.value;   // the show's value: the drag moves it from where it is
    shown = startValue;
    moved = false;
    f.held = true;
    el.classList.add("held");
    ev.preventDefault();
  });
  el.addEventListener("pointermove", (ev) => {
    if (!f.held || ev.pointerId !== pointer) return;
    if (el.classList.contains("off")) return;
    const dx = ev.clientX - startX;
    if (!moved && Math.abs(dx) < DEAD_ZONE_PX) return; // a tap, not a drag
    moved = true;
    const width = el.getBoundingClientRect().width || 1;
    shown = Math.max(f.min, Math.min(f.max, startValue + (dx / width) * (f.max - f.min)));
    draw(f, shown);
    sendSoon();
  });
  const end = (ev) => {
    if (ev.pointerId !== pointer) return;
    pointer = null;
    if (timer) { clearTimeout(timer); if (f.held && !el.classList.contains("off")) flush(); }
    // keep the hand's value until the server's answer to the last send has arrived
    setTimeout(() => {
      if (pointer !== null) return;
      f.held = false;
      el.classList.remove("held");
      draw(f, f.value);
    }, moved ? 300 : 0);
  };
  el.addEventListener("pointerup", end);
  el.addEventListener("pointercancel", end);
  let keyTimer = 0;
  el.addEventListener("keydown", (ev) => {
    if (el.classList.contains("off") || pointer !== null) return;
    const step = (f.max - f.min) * (ev.shiftKey ? 0.1 : 0.01);
    let dir = 0;
    if (ev.key === "ArrowRight" || ev.key === "ArrowUp") dir = 1;
    if (ev.key === "ArrowLeft" || ev.key === "ArrowDown") dir = -1;
    if (!dir) return;
    ev.preventDefault();
    // keys held as a finger is: steps add up from the shown value, the show's answers to
    // the earlier steps do not pull it back
    if (!f.held) shown = f.value;
    f.held = true;
    shown = Math.max(f.min, Math.min(f.max, Math.round((shown + dir * step) * 1e4) / 1e4));
    draw(f, shown);
    sendSoon();
    clearTimeout(keyTimer);
    keyTimer = setTimeout(() => { if (pointer === null) { f.held = false; draw(f, f.value); } }, 600);
  });
}

// --- buttons --------------------------------------------------------------------------

function button(id, name, label) {
  const b = $(id);
  b.addEventListener("click", () => {
    if (b.classList.contains("off")) { refusedTap(b, label); return; }
    command(name, {}, { label, button: b });
  });
}
button("go", "go", "GO");
button("back", "back", "BACK");
button("prev-cue", "standby_prev", "CUE <");
button("next-cue-btn", "standby_next", "CUE >");
button("prev-poem", "poem_prev", "POEM <");
button("next-poem", "poem_next", "POEM >");

function holdToConfirm(btn, name, label) {
  const fill = document.createElement("span");
  fill.className = "fill";
  btn.appendChild(fill);
  btn.style.setProperty("--hold", HOLD_MS + "ms");
  let timer = 0;
  let firedAt = -1e9;
  const cancel = () => { clearTimeout(timer); timer = 0; btn.classList.remove("holding"); };
  const start = (ev) => {
    if (timer) return;
    if (ev && ev.type === "keydown" && ev.key !== " " && ev.key !== "Enter") return;
    if (ev && ev.type === "keydown" && ev.repeat) return;
    if (btn.classList.contains("off")) { refusedTap(btn, label); return; }
    btn.classList.add("holding");
    timer = setTimeout(() => {
      cancel();
      firedAt = performance.now();
      command(name, {}, { label, button: btn });
    }, HOLD_MS);
  };
  btn.addEventListener("pointerdown", start);
  btn.addEventListener("pointerup", cancel);
  btn.addEventListener("pointerleave", cancel);
  btn.addEventListener("pointercancel", cancel);
  btn.addEventListener("keydown", start);
  btn.addEventListener("keyup", cancel);
  btn.addEventListener("click", (ev) => {
    const justFired = performance.now() - firedAt < 1000; // the click that ends a hold
    if (!btn.classList.contains("holding") && !btn.classList.contains("off") && !justFired) {
      toast(`hold ${label} to confirm`);
    }
    ev.preventDefault();
  });
}

holdToConfirm($("blackout"), "blackout", "BLACKOUT");
holdToConfirm($("panic"), "panic", "PANIC");

// the lock: one tap locks, unlocking needs a hold
const lockButton = $("lock");
let lockTimer = 0;
function sendLock(on) {
  if (!online()) return;
  ws.send(JSON.stringify({ type: "lock", id: "c" + nextId++, on }));
}
lockButton.addEventListener("pointerdown", () => {
  if (lockButton.disabled || !state) return;
  if (!state.locked) { sendLock(true); return; }
  lockButton.classList.add("holding");
  lockTimer = setTimeout(() => {
    lockButton.classList.remove("holding");
    sendLock(false);
  }, HOLD_MS);
});
for (const ev of ["pointerup", "pointerleave", "pointercancel"]) {
  lockButton.addEventListener(ev, () => { clearTimeout(lockTimer); lockButton.classList.remove("holding"); });
}

$("program-on").addEventListener("change", (ev) => {
  if (online()) ws.send(JSON.stringify({ type: "program", on: ev.target.checked }));
  if (!ev.target.checked) $("program").hidden = true;
});

// --- keeping the screen awake -------------------------------------------------------------
// The Wake Lock API exists only in a secure context (HTTPS, or localhost). On the venue's
// plain-HTTP address the page plays a tiny muted looping video instead, started by the first
// touch (browsers let a page play video only after one); the badge says which one holds.

let wakeLock = null;
function setWake(text, ok) {
  const el = $("wake");
  el.textContent = text;
  el.className = "badge " + (ok ? "ok" : "bad");
}
async function keepAwake() {
  if (document.visibilityState !== "visible") return;
  if (navigator.wakeLock) {
    try {
      wakeLock = await navigator.wakeLock.request("screen");
      setWake("awake: wake lock", true);
      wakeLock.addEventListener("release", () => { wakeLock = null; setWake("awake: lost", false); });
      return;
    } catch (e) { /* refused (hidden page, power saving): try the video */ }
  }
  const v = $("wake-video");
  try {
    await v.play();
    setWake("awake: video", true);
  } catch (e) {
    setWake("awake: NO (tap the page; or the tablet's auto-lock)", false);
  }
}
document.addEventListener("visibilitychange", () => { if (!wakeLock) keepAwake(); });
document.addEventListener("pointerdown", () => {
  if (!wakeLock && $("wake-video").paused) keepAwake();
}, { capture: true });
setWake(navigator.wakeLock ? "awake: tap once" : "awake: tap once (video)", false);
keepAwake();

connect();
