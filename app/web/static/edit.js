// The edit view: the show file's poems and cues, edited through /api/edit (operate token).
// Every edit names the digest of the file the page shows; a file changed on disk since is
// refused (409) and the page reloads. The running show reloads the file by itself.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token") || sessionStorage.getItem("console-token") || "";
if (params.get("token")) {
  sessionStorage.setItem("console-token", token);
  history.replaceState(null, "", location.pathname); // keep the token off the screen
}
const $ = (id) => document.getElementById(id);
let shown = null; // the last description of the file
let dragged = null; // the id of the cue being dragged

function say(text, bad) {
  const m = $("message");
  m.textContent = text;
  m.classList.toggle("bad", !!bad);
}

async function load() {
  const r = await fetch(`/api/edit?token=${encodeURIComponent(token)}`);
  const body = await r.json();
  if (!r.ok) {
    say(body.error || `error ${r.status}`, true);
    return;
  }
  render(body);
}

async function edit(change) {
  const r = await fetch(`/api/edit?token=${encodeURIComponent(token)}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...change, digest: shown.digest }),
  });
  const body = await r.json();
  if (r.status === 409) {
    say("the show file changed on disk: reloading", true);
    location.reload();
    return;
  }
  if (!r.ok) {
    say(body.error || `error ${r.status}`, true);
    render(shown); // back to what the file says
    return;
  }
  say(change.op === "undo" ? "undone" : "saved: the show reloads it");
  render(body);
}

function number(text) {
  if (text.trim() === "") return null;
  const v = Number(text);
  return Number.isFinite(v) ? v : undefined;
}

function row(cue, poem) {
  const li = $("cue-row").content.firstElementChild.cloneNode(true);
  li.dataset.id = cue.id;
  li.dataset.poem = poem.id;
  li.querySelector(".cue-id").textContent = cue.id;
  li.querySelector(".media").textContent = cue.media;
  const fade = li.querySelector(".fade");
  fade.value = cue.fade === null ? "" : cue.fade;
  fade.placeholder = shown.default_fade === null ? "default" : String(shown.default_fade);
  fade.addEventListener("change", () => {
    const v = number(fade.value);
    if (v === undefined) return say("fade: expected seconds", true);
    edit({ op: "set", cue: cue.id, field: "fade", value: v });
  });
  const curve = li.querySelector(".curve");
  curve.value = cue.curve || "";
  curve.addEventListener("change", () =>
    edit({ op: "set", cue: cue.id, field: "curve", value: curve.value || null }));
  const follow = li.querySelector(".follow");
  const after = li.querySelector(".follow-after");
  const f = cue.follow;
  follow.value = !f ? "" : f.on === "end" ? "end" : "after";
  after.hidden = follow.value !== "after";
  after.value = f && f.after !== undefined ? f.after : "";
  const sendFollow = () => {
    let value = null;
    if (follow.value === "end") value = { on: "end" };
    if (follow.value === "after") value = { after: number(after.value) ?? 0 };
    edit({ op: "set", cue: cue.id, field: "follow", value });
  };
  follow.addEventListener("change", sendFollow);
  after.addEventListener("change", sendFollow);
  const notes = li.querySelector(".notes");
  notes.value = cue.notes;
  notes.addEventListener("change", () =>
    edit({ op: "set", cue: cue.id, field: "notes", value: notes.value }));
  li.querySelector(".delete").addEventListener("click", () => edit({ op: "delete", cue: cue.id }));
  li.addEventListener("dragstart", (e) => {
    dragged = cue.id;
    e.dataTransfer.setData("text/plain", cue.id);
    e.dataTransfer.effectAllowed = "move";
  });
  li.addEventListener("dragover", (e) => {
    e.preventDefault();
    li.classList.add("over");
  });
  li.addEventListener("dragleave", () => li.classList.remove("over"));
  li.addEventListener("drop", (e) => {
    e.preventDefault();
    e.stopPropagation();
    li.classList.remove("over");
    const id = dragged || e.dataTransfer.getData("text/plain");
    if (id && id !== cue.id) edit({ op: "move", cue: id, poem: poem.id, before: cue.id });
  });
  return li;
}

function render(body) {
  shown = body;
  $("show-title").textContent = body.title;
  $("file").textContent = body.file;
  $("undo").disabled = !body.undo;
  const main = $("edit");
  main.replaceChildren();
  for (const poem of body.poems) {
    const sec = document.createElement("section");
    sec.className = "poem";
    sec.dataset.poem = poem.id;
    const h = document.createElement("h2");
    h.textContent = `${poem.id} ${poem.title}`;
    const ol = document.createElement("ol");
    for (const cue of poem.cues) ol.append(row(cue, poem));
    // a drop on the list itself (below its rows) puts the cue at the poem's end
    ol.addEventListener("dragover", (e) => { e.preventDefault(); ol.classList.add("over"); });
    ol.addEventListener("dragleave", () => ol.classList.remove("over"));
    ol.addEventListener("drop", (e) => {
      e.preventDefault();
      ol.classList.remove("over");
      const id = dragged || e.dataTransfer.getData("text/plain");
      if (id) edit({ op: "move", cue: id, poem: poem.id, before: null });
    });
    const add = document.createElement("div");
    add.className = "add";
    const pick = document.createElement("select");
    pick.className = "add-media";
    pick.setAttribute("aria-label", `Media to add to poem ${poem.id}`);
    for (const m of body.media) pick.append(new Option(m, m));
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small add-cue";
    button.textContent = "ADD CUE";
    button.addEventListener("click", () => {
      if (pick.value) edit({ op: "add", poem: poem.id, media: pick.value });
    });
    add.append(pick, button);
    sec.append(h, ol, add);
    main.append(sec);
  }
}

$("undo").addEventListener("click", () => edit({ op: "undo" }));
document.addEventListener("dragend", () => { dragged = null; });
load();
