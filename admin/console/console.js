// chatgate operator console: calls the REST API of the server that serves
// it, with the app id and admin token the operator logs in with (kept in
// sessionStorage: this tab only). docs/operations.md describes it.
"use strict";

const $ = (sel) => document.querySelector(sel);
const session = { app: sessionStorage.getItem("cg.app") || "", token: sessionStorage.getItem("cg.token") || "" };
const platforms = { 1: "ios", 2: "android", 3: "windows", 4: "mac", 5: "linux", 6: "web" };

class APIError extends Error {
  constructor(code, message) { super(message || ("code " + code)); this.code = code; }
}

// api calls one REST operation and returns the envelope's data; any code
// but 200 throws an APIError.
async function api(method, path, { query, body, userId } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) url.searchParams.set(k, v);
  const headers = { "app_id": session.app, "access-token": session.token };
  if (userId) headers["user_id"] = String(userId);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let env;
  try { env = await res.json(); } catch (e) { throw new APIError(res.status, "HTTP " + res.status); }
  if (env.code !== 200) throw new APIError(env.code, env.message + " (" + env.code + ")");
  return env.data;
}

// el builds an element: el("td", {class: "x"}, "text", child...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ""));
  return e;
}

function fill(tbody, rows) { tbody.replaceChildren(...rows); }
function when(ms) { return ms ? new Date(ms).toLocaleString() : "never"; }
function showError(id, err) { $(id).textContent = err ? (err.message || String(err)) : ""; }

// --- login
async function login(app, token) {
  session.app = app; session.token = token;
  await api("GET", "/console/api/cluster");
  sessionStorage.setItem("cg.app", app);
  sessionStorage.setItem("cg.token", token);
  $("#login").hidden = true;
  $("#tabs").hidden = false;
  $("#who").hidden = false;
  $("#who-app").textContent = "app " + app;
  show("users");
}

function logout() {
  sessionStorage.removeItem("cg.app");
  sessionStorage.removeItem("cg.token");
  location.reload();
}

let clusterTimer = null;
function show(tab) {
  for (const s of document.querySelectorAll(".page")) s.hidden = s.id !== tab;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === tab);
  clearInterval(clusterTimer);
  if (tab === "cluster") { loadCluster(); clusterTimer = setInterval(loadCluster, 5000); }
}

// --- users
let current = null; // the user on screen

async function findUser(q) {
  showError("#user-error", null);
  try {
    renderUser(await api("GET", "/console/api/user", { query: { q } }));
  } catch (e) {
    $("#user-view").hidden = true;
    showError("#user-error", e);
  }
}

function renderUser(u) {
  current = u;
  $("#user-view").hidden = false;
  $("#user-title").textContent = (u.nick_name || u.username || ("user " + u.user_id)) + " (" + u.user_id + ")";
  const kv = [["user id", u.user_id], ["username", u.username], ["nickname", u.nick_name], ["mobile", u.mobile],
    ["email", u.email], ["description", u.description], ["registered", when(u.create_time)], ["state", u.disabled ? "disabled" : "enabled"]];
  fill($("#user-profile"), kv.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", { "data-field": k }, v))));
  const dis = $("#user-disable");
  dis.textContent = u.disabled ? "Enable user" : "Disable user";
  dis.className = u.disabled ? "" : "danger";
  fill($("#user-devices tbody"), u.devices.map((d) => el("tr", { "data-device": d.device_sn },
    el("td", {}, d.device_sn),
    el("td", {}, platforms[d.platform] || "unknown"),
    el("td", { class: d.online ? "online" : "offline", "data-status": d.online ? "online" : "offline" },
      d.online ? (d.background ? "online (background)" : "online") : "offline"),
    el("td", {}, d.node || "-"),
    el("td", {}, when(d.last_seen)),
    el("td", {}, d.push_token ? ("token" + (d.notifier ? " (" + d.notifier + ")" : "")) : "-"),
    el("td", {}, d.online ? el("button", { class: "danger", "data-kick": d.device_sn, onclick: () => kick(d.device_sn) }, "Kick") : ""),
  )));
  loadUserGroups(u.user_id);
}

async function loadUserGroups(uid) {
  try {
    const ids = await api("GET", "/group/user_joined", { userId: uid });
    $("#user-groups").replaceChildren(...(ids.length ? ids.flatMap((g, i) => [i ? ", " : "",
      el("button", { class: "link", onclick: () => { show("groups"); $("#group-q").value = g; openGroup(g); } }, g)]) : ["none"]));
  } catch (e) {
    $("#user-groups").textContent = e.code === 40404 ? "this server has no group operations" : e.message;
  }
}

// refreshUntil reloads the user on screen until pred(user) holds or 15 s
// passed: a kick takes effect when the gateway has closed the socket.
async function refreshUntil(pred) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const u = await api("GET", "/console/api/user", { query: { q: String(current.user_id) } });
    renderUser(u);
    if (pred(u) || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function kick(sn) {
  showError("#user-error", null);
  try {
    const query = sn === undefined ? {} : { device_sn: sn };
    await api("POST", "/user/kick", { query, userId: current.user_id });
    await refreshUntil((u) => u.devices.every((d) => !d.online || (sn !== undefined && d.device_sn !== sn)));
  } catch (e) { showError("#user-error", e); }
}

async function toggleDisabled() {
  showError("#user-error", null);
  try {
    await api("PUT", current.disabled ? "/user/enable" : "/user/disable", { body: { list: [current.user_id] } });
    const want = !current.disabled;
    await refreshUntil((u) => u.disabled === want);
  } catch (e) { showError("#user-error", e); }
}

// --- groups
let group = null;

async function openGroup(id) {
  showError("#group-error", null);
  try {
    const gid = Number(id);
    const info = await api("GET", "/group/info", { query: { group_id: gid } });
    const members = await api("GET", "/group/member_list", { query: { group_id: gid, limit: 1000 } });
    const admins = await api("GET", "/group/admin_list", { query: { group_id: gid } });
    group = info;
    renderGroup(info, members || [], new Set((admins || []).map((a) => a.user_id)));
  } catch (e) {
    $("#group-view").hidden = true;
    showError("#group-error", e.code === 40404 ? new Error("this server has no group operations") : e);
  }
}

function renderGroup(g, members, admins) {
  $("#group-view").hidden = false;
  $("#group-title").textContent = (g.name || "group") + " (" + g.group_id + ")";
  const skip = new Set(["name", "group_id"]);
  fill($("#group-settings"), Object.entries(g).filter(([k]) => !skip.has(k)).map(([k, v]) =>
    el("tr", {}, el("th", {}, k), el("td", {}, typeof v === "object" ? JSON.stringify(v) : v))));
  const banned = g.ban_expire_time && g.ban_expire_time !== 0;
  const ban = $("#group-ban-all");
  ban.textContent = banned ? "Lift ban_all" : "ban_all (only admins may send)";
  ban.onclick = async () => {
    try {
      if (banned) await api("POST", "/group/settings/unban_all", { body: { group_id: g.group_id } });
      else await api("POST", "/group/settings/ban_all", { body: { group_id: g.group_id, duration: -1 } });
      openGroup(g.group_id);
    } catch (e) { showError("#group-error", e); }
  };
  const roleOf = (m) => (m.user_id === g.owner_id ? "owner" : admins.has(m.user_id) ? "admin" : "member");
  const memberBan = (m) => (m.expired_time === -1 ? ", banned" : m.expired_time > Date.now() ? ", banned until " + when(m.expired_time) : "");
  fill($("#group-members tbody"), members.map((m) => el("tr", { "data-member": m.user_id },
    el("td", {}, m.user_id), el("td", {}, m.display_name || ""), el("td", {}, roleOf(m) + memberBan(m)),
    el("td", {}, roleOf(m) === "owner" ? "" : el("button", { class: "danger", onclick: () => kickMember(g.group_id, m.user_id) }, "Remove")))));
}

async function kickMember(gid, uid) {
  try {
    await api("POST", "/group/kick", { body: { group_id: gid, user_list: [uid] } });
    openGroup(gid);
  } catch (e) { showError("#group-error", e); }
}

// --- push tasks
async function showTasks(text) {
  showError("#push-error", null);
  const ids = text.split(/[\s,]+/).filter(Boolean).map(Number);
  if (!ids.length || ids.some((n) => !Number.isSafeInteger(n) || n <= 0)) {
    showError("#push-error", new Error("task ids are positive integers"));
    return;
  }
  try {
    const tasks = await api("POST", "/push/task/detail", { body: { list: ids } });
    $("#push-view").replaceChildren(...tasks.map(renderTask));
    if (!tasks.length) $("#push-view").textContent = "no such task (statistics are kept for push.task_ttl)";
  } catch (e) { showError("#push-error", e); }
}

function renderTask(t) {
  // Per-channel counters are <channel>_target, _sent, _received.
  const channels = {}; const other = [];
  for (const [k, v] of Object.entries(t)) {
    const m = /^(.+)_(target|sent|received)$/.exec(k);
    if (m) (channels[m[1]] ||= {})[m[2]] = v; else other.push([k, v]);
  }
  return el("div", { class: "task" },
    el("h3", {}, "task " + (t.task_id ?? "")),
    el("table", { class: "kv" }, ...other.filter(([k]) => k !== "task_id").map(([k, v]) =>
      el("tr", {}, el("th", {}, k), el("td", {}, typeof v === "object" ? JSON.stringify(v) : v)))),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "channel"), el("th", {}, "target"), el("th", {}, "sent"), el("th", {}, "received"))),
      el("tbody", {}, ...Object.entries(channels).map(([c, s]) =>
        el("tr", { "data-channel": c }, el("td", {}, c), el("td", {}, s.target ?? 0), el("td", {}, s.sent ?? 0), el("td", {}, s.received ?? 0))))));
}

// --- cluster
async function loadCluster() {
  try {
    const c = await api("GET", "/console/api/cluster");
    showError("#cluster-error", null);
    const alive = c.nodes.filter((n) => n.alive);
    const conns = alive.reduce((s, n) => s + n.connections, 0);
    $("#cluster-summary").textContent = alive.length + " processes reporting; " + conns + " connections; " +
      c.owned + " of " + c.partitions + " ingress partitions owned" + (c.owned < c.partitions ? " (some have no router!)" : "");
    const status = (n) => el("td", { class: n.alive ? "online" : "lost" }, n.alive ? "up" : "lost (last report " + when(n.updated) + ")");
    const byRole = (r) => c.nodes.filter((n) => (n.roles || []).includes(r));
    const spread = (m) => Object.entries(m || {}).sort((a, b) => a[0] - b[0]).map(([p, v]) => p + ": " + v).join(", ") || "-";
    fill($("#cluster-gateways tbody"), byRole("gateway").map((n) => el("tr", { "data-node": n.node },
      el("td", {}, n.node), status(n), el("td", { "data-connections": "" }, n.connections), el("td", {}, n.version), el("td", {}, when(n.started)))));
    fill($("#cluster-routers tbody"), byRole("router").map((n) => el("tr", { "data-node": n.node },
      el("td", {}, n.node), status(n), el("td", {}, n.partitions_owned), el("td", {}, spread(n.lag)))));
    fill($("#cluster-push tbody"), byRole("pushworker").map((n) => el("tr", { "data-node": n.node },
      el("td", {}, n.node), status(n), el("td", {}, spread(n.push_backlog)))));
    fill($("#cluster-admin tbody"), byRole("admin").map((n) => el("tr", { "data-node": n.node },
      el("td", {}, n.node), status(n), el("td", {}, n.version))));
  } catch (e) { showError("#cluster-error", e); }
}

// --- wiring
document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError("#login-error", null);
    try { await login($("#login-app").value.trim(), $("#login-token").value.trim()); } catch (e) { showError("#login-error", e); }
  });
  $("#logout").addEventListener("click", logout);
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => show(b.dataset.tab));
  $("#user-search").addEventListener("submit", (ev) => { ev.preventDefault(); findUser($("#user-q").value.trim()); });
  $("#user-kick-all").addEventListener("click", () => kick(undefined));
  $("#user-disable").addEventListener("click", toggleDisabled);
  $("#group-search").addEventListener("submit", (ev) => { ev.preventDefault(); openGroup($("#group-q").value.trim()); });
  $("#push-search").addEventListener("submit", (ev) => { ev.preventDefault(); showTasks($("#push-q").value); });
  if (session.app && session.token) login(session.app, session.token).catch(() => logout());
});
