// chatgate browser demo, built on @chatgate/client (window.chatgate, the
// SDK's browser bundle). Plain DOM, no framework: the page is the SDK's
// example as much as a demo.
"use strict";
(function () {
  const { ChatClient, RestClient, compareIds } = window.chatgate;
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, props, ...kids) => {
    const e = Object.assign(document.createElement(tag), props || {});
    for (const k of kids) e.append(k);
    return e;
  };

  let cfg, rest, client, me;
  const convs = new Map(); // key "u:<peer>" | "g:<gid>" -> {key, id, group, unread, ts}
  let current = null; // conversation key
  let oldest = "0"; // history paging cursor of the current conversation
  const rendered = new Map(); // message id -> <li> in the current conversation
  let peerRead = "0"; // highest of my messages the peer has read (1:1)

  // Conversation key of a message object for this user.
  function keyOf(m) {
    if (m.conv.startsWith("g:")) return m.conv;
    const [, a, b] = m.conv.split(":");
    return "u:" + (Number(a) === me ? b : a);
  }

  function setConn(state, detail) {
    const c = $("#conn");
    c.className = "conn " + state;
    c.textContent = detail ? state + " (" + detail + ")" : state;
    c.dataset.state = state;
  }

  async function login(ev) {
    ev.preventDefault();
    const f = ev.target;
    $("#login-error").textContent = "";
    try {
      const t = await rest.login(f.username.value.trim(), f.password.value);
      me = Number(t.user_id);
      start(t.token, f.username.value.trim(), f.password.value);
    } catch (err) {
      $("#login-error").textContent = "Login failed: " + err.message;
    }
  }

  function deviceSn(user) {
    // One device number per browser profile and user, kept across reloads.
    const k = "chatgate-demo-device-" + cfg.app_id + "-" + user;
    let sn = Number(localStorage.getItem(k));
    if (!sn) {
      sn = 1000 + Math.floor(Math.random() * 1e9);
      localStorage.setItem(k, String(sn));
    }
    return sn;
  }

  function start(token, username, password) {
    $("#login").hidden = true;
    $("#chat").hidden = false;
    $("#me").textContent = username + " (user " + me + ")";
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    const sn = deviceSn(me);
    let first = true;
    client = new ChatClient({
      urls: [proto + location.host + cfg.ws_path],
      appId: cfg.app_id,
      deviceSn: sn,
      getToken: async () => {
        // The first token came with the login; after a refusal (expiry)
        // log in again: a real app would ask its own backend.
        if (first) return (first = false), token;
        const t = await rest.login(username, password);
        return t.token;
      },
    });
    client.on("state", (s) => setConn(s));
    client.on("close", (i) => i.willReconnect && setConn("reconnecting", "in " + (i.delayMs / 1000).toFixed(1) + " s, code " + i.code));
    client.on("open", () => setConn("open"));
    client.on("synced", () => refreshConversations());
    client.on("message", onMessage);
    client.on("recall", onRecall);
    client.on("read", onRead);
    client.on("notice", (m) => {
      if (m.notice && m.notice.group) touch("g:" + m.notice.group, m.ts, 0);
    });
    client.connect();
    refreshConversations();
  }

  async function refreshConversations() {
    try {
      for (const c of await rest.recentConversations()) {
        const key = (c.group ? "g:" : "u:") + c.id;
        const old = convs.get(key);
        convs.set(key, { key, id: c.id, group: c.group, unread: key === current ? 0 : c.unread, ts: Math.max(c.ts, old ? old.ts : 0) });
      }
      renderConversations();
    } catch (err) {
      console.warn("recent conversations", err);
    }
  }

  function touch(key, ts, unreadDelta) {
    let c = convs.get(key);
    if (!c) {
      c = { key, id: Number(key.slice(2)), group: key.startsWith("g:"), unread: 0, ts: 0 };
      convs.set(key, c);
    }
    c.ts = Math.max(c.ts, ts);
    c.unread += unreadDelta;
    renderConversations();
  }

  function renderConversations() {
    const list = $("#convs");
    list.replaceChildren();
    for (const c of [...convs.values()].sort((a, b) => b.ts - a.ts)) {
      const li = el("li", { className: c.key === current ? "active" : "" },
        el("span", { textContent: (c.group ? "Group " : "User ") + c.id }),
        el("span", { className: "badge", textContent: c.unread ? String(c.unread) : "" }));
      li.dataset.conv = c.key;
      li.dataset.unread = String(c.unread);
      li.onclick = () => open(c.key);
      list.append(li);
    }
  }

  async function open(key) {
    current = key;
    oldest = "0";
    peerRead = "0";
    rendered.clear();
    $("#msgs").replaceChildren();
    $("#compose").hidden = false;
    $("#title").textContent = (key.startsWith("g:") ? "Group " : "User ") + key.slice(2);
    const c = convs.get(key) || (touch(key, 0, 0), convs.get(key));
    c.unread = 0;
    renderConversations();
    await loadOlder();
    $("#msgs").scrollTop = $("#msgs").scrollHeight;
  }

  async function loadOlder() {
    const key = current;
    const page = await rest.history(Number(key.slice(2)), oldest, 20);
    if (key !== current) return;
    for (const h of page.messages) {
      const m = {
        id: h.msg_id, from: h.from, type: h.ctype.toLowerCase(), content: h.content, ts: h.timestamp,
      };
      if (h.from === me && h.status === "READ") peerRead = maxId(peerRead, h.msg_id);
      render(m, { prepend: true, status: h.from === me ? statusOf(h) : "" });
    }
    oldest = page.next;
    $("#older").hidden = !page.more;
    markRead();
  }

  function statusOf(h) {
    return h.status === "READ" ? "read" : "sent";
  }

  function maxId(a, b) {
    return compareIds(a, b) >= 0 ? a : b;
  }

  // Renders one message of the current conversation, in id order.
  function render(m, opts) {
    if (m.id && rendered.has(m.id)) return rendered.get(m.id);
    const mine = m.from === me;
    const li = el("li", { className: mine ? "mine" : "" });
    const text = el("span", { className: "text", textContent: m.content });
    const meta = el("span", { className: "meta" });
    li.append(text, meta);
    if (m.id) setId(li, m.id);
    li.dataset.from = String(m.from);
    setStatus(li, opts && opts.status, m);
    const list = $("#msgs");
    if (opts && opts.prepend) {
      // History pages come newest first: insert before every later message.
      const after = [...list.children].find((x) => x.dataset.id && compareIds(x.dataset.id, m.id) > 0);
      list.insertBefore(li, after || null);
    } else if (m.id) {
      const after = [...list.children].find((x) => x.dataset.id && compareIds(x.dataset.id, m.id) > 0);
      list.insertBefore(li, after || null);
    } else {
      list.append(li);
    }
    return li;
  }

  function setId(li, id) {
    li.dataset.id = id;
    rendered.set(id, li);
  }

  function setStatus(li, status, m) {
    const meta = li.querySelector(".meta");
    const who = li.dataset.from === String(me) ? "me" : (current && current.startsWith("g:") ? "user " + li.dataset.from : "");
    const time = m && m.ts ? new Date(m.ts).toLocaleTimeString() : "";
    li.dataset.status = status || "";
    meta.textContent = [who, time, status].filter(Boolean).join(" · ");
    if (li.dataset.from === String(me) && li.dataset.id && !li.querySelector(".recall") && status !== "recalled") {
      const b = el("button", { className: "recall", textContent: "recall", type: "button" });
      b.onclick = () => recall(li.dataset.id);
      meta.after(b);
    }
  }

  async function send(ev) {
    ev.preventDefault();
    const input = ev.target.text;
    const content = input.value;
    if (!content || !current) return;
    input.value = "";
    const key = current;
    const id = Number(key.slice(2));
    const li = render({ from: me, content, ts: Date.now() });
    setStatus(li, "sending");
    try {
      const ack = await client.send(key.startsWith("g:") ? { toGroup: id, content } : { toUser: id, content });
      if (key !== current) return;
      setId(li, ack.id);
      setStatus(li, compareIds(peerRead, ack.id) >= 0 ? "read" : "sent", { ts: ack.ts });
      touch(key, ack.ts, 0);
    } catch (err) {
      setStatus(li, "failed: " + err.message);
    }
  }

  function onMessage(m) {
    const key = keyOf(m);
    if (key === current) {
      render(m, { status: m.from === me ? "sent" : "" });
      markRead();
      const list = $("#msgs");
      list.scrollTop = list.scrollHeight;
      touch(key, m.ts, 0);
    } else {
      touch(key, m.ts, m.from === me ? 0 : 1);
    }
  }

  function onRecall(ev) {
    const li = rendered.get(ev.ref);
    if (li && keyOf(ev) === current) {
      li.classList.add("recalled");
      li.querySelector(".text").textContent = "message recalled";
      const b = li.querySelector(".recall");
      if (b) b.remove();
      setStatus(li, "recalled");
    }
  }

  function onRead(ev) {
    if (ev.from === me || keyOf(ev) !== current) return;
    peerRead = maxId(peerRead, ev.ref);
    for (const [id, li] of rendered) {
      if (li.dataset.from === String(me) && compareIds(id, peerRead) <= 0 && li.dataset.status === "sent") setStatus(li, "read");
    }
  }

  let readTimer = null;
  function markRead() {
    // Read receipt for the newest message of the open conversation.
    clearTimeout(readTimer);
    readTimer = setTimeout(async () => {
      const ids = [...rendered.keys()].filter((id) => rendered.get(id).dataset.from !== String(me));
      if (!ids.length || !current) return;
      const newest = ids.reduce(maxId);
      try {
        await rest.markRead(Number(current.slice(2)), newest, client.session ? client.session.device_sn : undefined);
      } catch (err) {
        console.warn("read receipt", err);
      }
    }, 300);
  }

  async function recall(id) {
    try {
      await rest.recall(Number(current.slice(2)), id);
    } catch (err) {
      alert("Recall failed: " + err.message);
    }
  }

  async function main() {
    cfg = await (await fetch("config.json")).json();
    rest = new RestClient({ baseUrl: location.origin + location.pathname.replace(/[^/]*$/, "") + "api", appId: cfg.app_id });
    if (cfg.hint) $("#hint").textContent = cfg.hint;
    $("#login").addEventListener("submit", login);
    $("#compose").addEventListener("submit", send);
    $("#older").addEventListener("click", loadOlder);
    $("#open").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = ev.target.peer.value.trim();
      ev.target.peer.value = "";
      const m = /^(g:)?(\d+)$/.exec(v);
      if (m) open((m[1] ? "g:" : "u:") + m[2]);
    });
  }
  main();
})();
