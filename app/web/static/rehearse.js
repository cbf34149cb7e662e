// The rehearsal page: the reference recording's transport and its cue marks.
// One WebSocket to the show, the console's protocol (app/web/protocol.py): it draws the
// `rehearsal` part of the state (app/rehearse/reference.py, console_state) and sends commands
// of the command table: transport_toggle, transport_skip, transport_seek, transport_poem,
// cue_time (retime a mark), go. Between updates the position runs on from the last one.
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get("token") || sessionStorage.getItem("console-token") || "";
if (params.get("token")) {
  sessionStorage.setItem("console-token", token);
  history.replaceState(null, "", location.pathname);
}
const GRAB_PX = 8; // how near a mark a press must be to drag it

let ws = null;
let nextId = 1;
let role = "view";
let reh = null;          // the newest state.rehearsal
let heardAt = 0;         // performance.now() when it came
let peaks = new Uint8Array(0);
let peaksText = "";
let drag = null;         // {cue, at} while a mark is dragged

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const sock = new WebSocket(`${proto}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  ws = sock;
  sock.onopen = () => { setLink("online", true); };
  sock.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    if (msg.type === "snapshot") { role = msg.role; $("role").textContent = role; take(msg.state); }
    else if (msg.type === "update") take(msg.state);
    else if (msg.type === "ack") {
      if (!msg.ok) say(msg.error);
      else if (msg.note) say(msg.note);
    }
  };
  sock.onclose = () => { if (sock === ws) { ws = null; setLink("offline", false); setTimeout(connect, 1000); } };
}

function setLink(text, ok) {
  const el = $("link");
  el.textContent = text;
  el.className = "badge " + (ok ? "ok" : "bad");
}

function say(text) { $("message").textContent = text || ""; }

function command(name, args) {
  if (!ws || ws.readyState !== WebSocket.OPEN) { say("not connected"); return; }
  if (role !== "operate") { say("view only"); return; }
  ws.send(JSON.stringify({ type: "command", id: "r" + nextId++, name, args: args || {} }));
}

function take(state) {
  // before the show loop's first state the server has only the lock and the consoles
  if (!state || !Array.isArray(state.layers)) { say("waiting for the show's first frame"); return; }
  const r = state.rehearsal;
  if (!r) { say("no reference recording: play SHOW --reference FILE"); return; }
  reh = r;
  heardAt = performance.now();
  if (r.peaks !== peaksText) {
    peaksText = r.peaks;
    const raw = atob(r.peaks || "");
    peaks = Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }
  $("recording").textContent = r.recording;
  $("duration").textContent = r.duration == null ? "loading" : clock(r.duration);
  $("state").textContent = r.error ? "error" : r.playing ? "playing" : "paused";
  $("ghost").hidden = !r.ghost;
  if (r.error) say(r.error);
}

function position() {
  if (!reh) return 0;
  let p = reh.position;
  if (reh.playing) p += (performance.now() - heardAt) / 1000;
  return reh.duration == null ? p : Math.min(p, reh.duration);
}

function clock(s) {
  const m = Math.floor(s / 60);
  const rest = s - m * 60;
  return `${m}:${rest < 10 ? "0" : ""}${rest.toFixed(1)}`;
}

// --- the waveform strip -----------------------------------------------------------------

const strip = $("strip");
const g = strip.getContext("2d");

function xOf(at) { return reh && reh.duration ? (at / reh.duration) * strip.width : 0; }
function atOf(x) { return reh && reh.duration ? Math.max(0, Math.min(reh.duration, (x / strip.width) * reh.duration)) : 0; }

function draw() {
  const w = strip.width, h = strip.height;
  g.fillStyle = "#000";
  g.fillRect(0, 0, w, h);
  if (peaks.length) {
    g.fillStyle = "#3a8dde";
    const bw = w / peaks.length;
    for (let i = 0; i < peaks.length; i++) {
      const ph = (peaks[i] / 255) * (h - 20);
      g.fillRect(i * bw, (h - ph) / 2, Math.max(1, bw), Math.max(1, ph));
    }
  }
  if (reh) {
    g.font = "bold 20px system-ui, sans-serif";
    for (const m of reh.marks) {
      const at = drag && drag.cue === m.cue ? drag.at : m.at;
      const x = xOf(at);
      const isNext = reh.next && reh.next.cue === m.cue;
      g.fillStyle = drag && drag.cue === m.cue ? "#f0a020" : isNext ? "#2fbf5b" : "#f2f2f2";
      g.fillRect(x - 1, 0, 2, h);
      g.fillText(m.cue, x + 4, 20);
    }
    const p = position();
    g.fillStyle = "#e5393b";
    g.fillRect(xOf(p) - 1, 0, 3, h);
    $("clock").textContent = clock(p);
    const n = reh.next;
    $("next-cue").textContent = n ? n.cue : "-";
    $("next-at").textContent = n && n.at != null ? clock(n.at) : "not captured";
    const cd = $("countdown");
    if (n && n.at != null) {
      const left = n.at - p;
      cd.textContent = (left >= 0 ? "in " : "late ") + Math.abs(left).toFixed(1) + " s";
      cd.className = left >= 0 ? "" : "late";
    } else cd.textContent = "";
  }
  requestAnimationFrame(draw);
}

function stripX(ev) {
  const rect = strip.getBoundingClientRect();
  return ((ev.clientX - rect.left) / rect.width) * strip.width;
}

strip.addEventListener("pointerdown", (ev) => {
  if (!reh || !reh.duration) return;
  const x = stripX(ev);
  const scale = strip.width / strip.getBoundingClientRect().width;
  let best = null;
  for (const m of reh.marks) {
    const d = Math.abs(xOf(m.at) - x);
    if (d <= GRAB_PX * scale && (!best || d < best.d)) best = { d, m };
  }
  if (best) {
    drag = { cue: best.m.cue, at: best.m.at };
    strip.setPointerCapture(ev.pointerId);
  } else {
    command("transport_seek", { seconds: atOf(x) });
  }
});
strip.addEventListener("pointermove", (ev) => { if (drag) drag.at = atOf(stripX(ev)); });
strip.addEventListener("pointerup", (ev) => {
  if (!drag) return;
  drag.at = atOf(stripX(ev));
  command("cue_time", { cue: drag.cue, seconds: Math.round(drag.at * 1000) / 1000 });
  const m = reh.marks.find((k) => k.cue === drag.cue);
  if (m) m.at = drag.at; // until the update that confirms it
  drag = null;
});

$("toggle").onclick = () => command("transport_toggle");
$("back5").onclick = () => command("transport_skip", { seconds: -5 });
$("fwd5").onclick = () => command("transport_skip", { seconds: 5 });
$("poem").onclick = () => command("transport_poem");
$("go").onclick = () => command("go");

connect();
requestAnimationFrame(draw);
