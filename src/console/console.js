// botgate console: signs in with server.token, shows the admin API's tables and the events of
// every bot live over /api/live, and sends or injects messages through the admin API.
"use strict";

const MAX_EVENTS = 500;
const state = { token: "", socket: null, paused: false, events: [], bots: [], retry: null };

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  }
  return node;
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  return { ok: response.ok, status: response.status, data };
}

// Signing in: the token is checked against the admin API before the socket opens.
async function signIn(event) {
  event.preventDefault();
  const token = $("token").value;
  state.token = token;
  const r = await api("GET", "/api/overview");
  if (r.status === 401) {
    $("login-error").textContent = "Wrong token: the gateway refused it.";
    $("token").focus();
    return;
  }
  if (!r.ok) {
    $("login-error").textContent = `The gateway answered ${r.status}.`;
    return;
  }
  $("login-error").textContent = "";
  sessionStorage.setItem("botgate-token", token);
  $("login").hidden = true;
  $("main").hidden = false;
  render(r.data);
  connect();
  $("bots-title").focus?.();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/live?token=${encodeURIComponent(state.token)}`);
  state.socket = socket;
  socket.addEventListener("open", () => { $("connection").textContent = "Live"; });
  socket.addEventListener("message", (m) => {
    let frame;
    try { frame = JSON.parse(m.data); } catch { return; }
    if (frame.type === "overview") render(frame.data);
    else if (frame.type === "event") addEvent(frame);
  });
  socket.addEventListener("close", () => {
    $("connection").textContent = "Disconnected; reconnecting…";
    clearTimeout(state.retry);
    state.retry = setTimeout(connect, 2000);
  });
}

function cell(value) {
  return el("td", {}, value === null || value === undefined ? "—" : String(value));
}

function fill(tableId, rows, columns, empty) {
  const body = $(tableId).tBodies[0];
  const fresh = rows.map((row) => el("tr", {}, ...columns(row)));
  if (fresh.length === 0) {
    fresh.push(el("tr", {}, el("td", { class: "empty", colspan: $(tableId).tHead.rows[0].cells.length }, empty)));
  }
  body.replaceChildren(...fresh);
}

function render(data) {
  state.bots = data.bots || [];
  fill("bots", state.bots, (b) => [
    cell(b.qq), cell(b.nickname), cell(b.source),
    el("td", { class: b.link === "online" ? "ok" : "bad" }, b.error ? `${b.link}: ${b.error}` : b.link),
    cell(b.subscribers), cell(b.cachedMessages), cell(b.storedMessages),
  ], "No bots");
  fill("clients", data.clients || [], (c) => [
    cell(c.adapter), cell(c.peer), cell(c.bot), cell(c.session ? `${c.session}…` : null),
    cell(c.outbox), cell(c.dropped),
    el("td", {}, el("button", { type: "button", "aria-label": `Disconnect ${c.adapter} client ${c.peer}`,
      onclick: () => act(`/api/clients/${c.id}/disconnect`) }, "Disconnect")),
  ], "No clients connected");
  fill("sessions", data.sessions || [], (s) => [
    cell(`${s.keyPrefix}…`), cell(s.bot), cell(s.references), cell((s.adapters || []).join(", ")),
  ], "No sessions");
  fill("destinations", data.destinations || [], (d) => [
    cell(d.adapter), cell(d.name),
    el("td", { class: d.connected ? "ok" : "bad" }, d.connected ? "yes" : "no"),
    cell(d.buffered), cell(d.dropped), cell(d.lastError),
    el("td", {}, el("button", { type: "button", "aria-label": `Redial ${d.name}`,
      onclick: () => act(`/api/destinations/${d.id}/redial`) }, "Redial")),
  ], "No destinations");
  choices("send-bot", state.bots, () => true);
  choices("inject-bot", state.bots, (b) => b.source === "simulated");
  choices("events-bot", state.bots, () => true, "All bots");
}

// Keeps a select's options in step with the bots, keeping the choice.
function choices(id, bots, keep, all) {
  const select = $(id);
  const wanted = bots.filter(keep).map((b) => String(b.qq));
  const current = [...select.options].map((o) => o.value).filter((v) => v !== "");
  if (wanted.join() === current.join()) return;
  const chosen = select.value;
  const options = wanted.map((qq) => el("option", { value: qq }, qq));
  if (all) options.unshift(el("option", { value: "" }, all));
  select.replaceChildren(...options);
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

async function act(path) {
  const r = await api("POST", path, {});
  $("connection").textContent = r.ok ? "Done" : `Failed: ${r.data?.error ?? r.status}`;
}

// Events: newest first, at most MAX_EVENTS kept; paused, they are counted but not shown.
function addEvent(frame) {
  state.events.unshift(frame);
  state.events.length = Math.min(state.events.length, MAX_EVENTS);
  if (!state.paused) showEvents();
}

function showEvents() {
  const bot = $("events-bot").value;
  const filter = $("events-filter").value.trim().toLowerCase();
  const shown = state.events.filter((e) =>
    (!bot || String(e.bot) === bot) && (!filter || e.kind.toLowerCase().includes(filter)));
  $("events").replaceChildren(...shown.map((e) => el("li", {},
    el("details", {},
      el("summary", {}, el("span", { class: "kind" }, e.kind),
        el("span", { class: "meta" }, `bot ${e.bot} · ${new Date(e.time * 1000).toLocaleTimeString()}`),
        el("span", { class: "meta" }, summary(e))),
      el("div", { class: "json" },
        el("div", {}, el("h3", {}, "mirai"), el("pre", {}, JSON.stringify(e.mirai, null, 2))),
        el("div", {}, el("h3", {}, "OneBot"), el("pre", {}, JSON.stringify(e.onebot, null, 2))))))));
  $("events-count").textContent = `${shown.length} of ${state.events.length} events${state.paused ? " (paused)" : ""}`;
}

// The text of a message event, for the one-line summary.
function summary(e) {
  const chain = e.mirai?.messageChain;
  if (Array.isArray(chain)) return chain.filter((m) => m.type === "Plain").map((m) => m.text).join("");
  return e.onebot?.raw_message ?? "";
}

async function send(event) {
  event.preventDefault();
  const message = [];
  const text = $("send-text").value;
  const at = $("send-at").value.trim();
  const image = $("send-image").value.trim();
  if (at) message.push({ type: "At", target: Number(at) });
  if (text) message.push({ type: "Plain", text: at ? ` ${text}` : text });
  if (image) message.push({ type: "Image", url: image });
  if (message.length === 0) {
    $("send-result").textContent = "Nothing to send: give a text, a mention or an image.";
    return;
  }
  const target = { [$("send-kind").value]: Number($("send-target").value) };
  const r = await api("POST", `/api/bots/${$("send-bot").value}/send`, { target, message });
  $("send-result").textContent = r.ok ? `Sent: message ${r.data.messageId}` : `Not sent: ${r.data?.error ?? r.status}`;
}

async function inject(event) {
  event.preventDefault();
  const body = {
    type: "GroupMessage",
    sender: { id: Number($("inject-sender").value), group: { id: Number($("inject-group").value) } },
    messageChain: [{ type: "Plain", text: $("inject-text").value }],
  };
  const r = await api("POST", `/api/bots/${$("inject-bot").value}/inject`, body);
  $("inject-result").textContent = r.ok ? `Injected: message ${r.data.messageId}` : `Not injected: ${r.data?.error ?? r.status}`;
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("send-form").addEventListener("submit", send);
  $("inject-form").addEventListener("submit", inject);
  $("events-pause").addEventListener("click", () => {
    state.paused = !state.paused;
    $("events-pause").setAttribute("aria-pressed", String(state.paused));
    $("events-pause").textContent = state.paused ? "Resume" : "Pause";
    showEvents();
  });
  $("events-clear").addEventListener("click", () => { state.events = []; showEvents(); });
  $("events-bot").addEventListener("change", showEvents);
  $("events-filter").addEventListener("input", showEvents);
  const saved = sessionStorage.getItem("botgate-token");
  if (saved !== null) {
    $("token").value = saved;
    $("login-form").requestSubmit();
  }
});
