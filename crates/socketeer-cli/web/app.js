// The socketeer chat page. Plain JavaScript, no build step; the official
// socket.io-client bundle (served at /socket.io/socket.io.js) provides `io`.
//
// Everything a user or the server typed is shown with textContent, never
// parsed as HTML.
"use strict";

(() => {
  const MESSAGE_MAX = 2000; // the server's limit, in characters
  const ACK_TIMEOUT = 10000;
  const TYPING_IDLE = 2000; // stop "typing" after this long without a key
  const TYPING_SHOWN = 3500; // how long another user's "typing" stays shown

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const chars = (s) => [...s].length;
  const newId = () => {
    const b = new Uint8Array(12);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  };
  const time = (ts) => new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

  // ?transports=polling or ?transports=websocket forces one transport.
  const forced = new URLSearchParams(location.search).get("transports");
  const transports = forced === "polling" || forced === "websocket" ? [forced] : ["polling", "websocket"];

  const ui = {
    status: $("status"), transport: $("transport"), upgrade: $("upgrade"), banner: $("banner"),
    joinForm: $("join-form"), nickname: $("nickname"), room: $("room"), joinError: $("join-error"),
    rooms: $("rooms"), roomsEmpty: $("rooms-empty"), roomCount: $("room-count"),
    presence: $("presence"), onlineCount: $("online-count"),
    roomTitle: $("room-title"), roomMembers: $("room-members"),
    messages: $("messages"), typing: $("typing"),
    sendForm: $("send-form"), message: $("message"), send: $("send"), counter: $("counter"),
  };

  if (typeof io !== "function") {
    ui.status.textContent = "offline";
    ui.status.className = "pill status-offline";
    ui.banner.textContent = "The socket.io-client bundle is missing: run ./scripts/serve (it installs it with npm).";
    ui.banner.hidden = false;
    return;
  }

  const state = {
    nickname: null, // as accepted by the server
    joined: [], // rooms joined, in order
    active: null, // the room shown
    log: new Map(), // room -> [{kind, id, nickname, text, ts, mine, status, error, node}]
    unread: new Map(), // room -> count
    serverRooms: [], // [{name, count}]
    presence: [], // [{nickname, rooms}]
    typing: new Map(), // room -> Map(nickname -> expiry ms)
    members: new Map(), // room -> [nickname] at join
    typingSent: false,
    typingTimer: null,
  };

  const socket = io({
    transports,
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
    timeout: 5000,
  });

  // ---------------------------------------------------------------- status

  function setStatus(s, detail) {
    ui.status.textContent = s;
    ui.status.className = "pill status-" + s;
    ui.status.title = detail || "";
    updateBanner();
  }

  function showBanner(text) {
    ui.banner.textContent = text;
    ui.banner.hidden = !text;
  }

  function queuedCount() {
    let n = 0;
    for (const entries of state.log.values()) {
      for (const m of entries) if (m.kind === "message" && m.status === "queued") n++;
    }
    return n;
  }

  function updateBanner() {
    if (socket.connected) return showBanner("");
    const q = queuedCount();
    const what = q ? ` ${q} message${q > 1 ? "s" : ""} will be sent when the connection is back.`
      : " Messages you write now will be sent when the connection is back.";
    const s = ui.status.textContent;
    showBanner((s === "reconnecting" ? "Offline, reconnecting…" : s === "connecting" ? "Connecting…" : "Offline.") + what);
  }

  function showTransport() {
    const name = socket.io.engine && socket.io.engine.transport ? socket.io.engine.transport.name : null;
    ui.transport.textContent = name || "none";
    ui.transport.className = "pill transport " + (name || "");
  }

  socket.io.on("open", () => {
    showTransport();
    const engine = socket.io.engine;
    engine.on("upgrading", (t) => {
      ui.upgrade.className = "upgrade";
      ui.upgrade.textContent = "upgrading to " + t.name + "…";
      ui.upgrade.hidden = false;
    });
    engine.on("upgrade", () => {
      showTransport();
      ui.upgrade.className = "upgrade done";
      ui.upgrade.textContent = "upgraded";
      setTimeout(() => { ui.upgrade.hidden = true; }, 3000);
    });
    engine.on("upgradeError", () => { ui.upgrade.hidden = true; });
  });
  socket.io.on("close", () => showTransport());
  socket.io.on("reconnect_attempt", (n) => setStatus("reconnecting", "attempt " + n));

  socket.on("connect", async () => {
    setStatus("connected");
    showTransport();
    await restore();
    flushQueue();
  });

  socket.on("disconnect", (reason) => {
    setStatus("offline", reason);
    showTransport();
    // Whatever waited for an ack goes back to the queue (the server drops
    // a resent duplicate by its id).
    for (const entries of state.log.values()) {
      for (const m of entries) if (m.kind === "message" && m.status === "sending") setMessageStatus(m, "queued");
    }
    if (reason === "io server disconnect") socket.connect();
    updateBanner();
  });

  socket.on("connect_error", (err) => {
    setStatus(socket.active ? "reconnecting" : "offline", err && err.message);
  });

  // After a (re)connection: the server may be a new process that knows
  // nothing of us, so say who we are and rejoin every room.
  async function restore() {
    if (!state.nickname) return;
    const hello = await call("hello", { nickname: state.nickname });
    if (!hello.ok) return;
    for (const room of [...state.joined]) {
      const r = await call("join", { room });
      if (r.ok) mergeHistory(room, r.history || []);
    }
  }

  function call(event, payload) {
    return socket.timeout(ACK_TIMEOUT).emitWithAck(event, payload)
      .catch(() => ({ ok: false, error: "no answer from the server" }));
  }

  // ---------------------------------------------------------------- rooms

  ui.joinForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    ui.joinError.hidden = true;
    const nickname = ui.nickname.value.trim();
    const room = ui.room.value.trim();
    if (!nickname || !room) return joinError("Enter a nickname and a room.");
    await joinRoom(nickname, room);
  });

  function joinError(text) {
    ui.joinError.textContent = text;
    ui.joinError.hidden = false;
  }

  async function joinRoom(nickname, room) {
    if (!socket.connected) return joinError("Offline: try again when connected.");
    if (nickname !== state.nickname) {
      const hello = await call("hello", { nickname });
      if (!hello.ok) return joinError(hello.error);
      state.nickname = hello.nickname;
      ui.nickname.value = hello.nickname;
      renderPresence();
    }
    const r = await call("join", { room });
    if (!r.ok) return joinError(r.error);
    if (!state.joined.includes(r.room)) state.joined.push(r.room);
    state.members.set(r.room, r.members || []);
    mergeHistory(r.room, r.history || []);
    ui.room.value = "";
    activate(r.room);
  }

  async function leaveRoom(room) {
    const r = await call("leave", { room });
    if (!r.ok && socket.connected) return joinError(r.error);
    state.joined = state.joined.filter((x) => x !== room);
    state.log.delete(room);
    state.unread.delete(room);
    if (state.active === room) activate(state.joined[0] || null);
    else renderRooms();
  }

  function activate(room) {
    state.active = room;
    state.unread.delete(room);
    ui.roomTitle.textContent = room === null ? "No room" : "# " + room;
    ui.message.disabled = ui.send.disabled = room === null;
    ui.message.placeholder = room === null ? "Join a room, then write here. Enter sends." : "Message #" + room;
    renderMessages();
    renderRooms();
    renderTyping();
    renderMembers();
    if (room !== null) ui.message.focus();
  }

  socket.on("rooms", (rooms) => {
    state.serverRooms = Array.isArray(rooms) ? rooms : [];
    renderRooms();
    renderMembers();
  });

  socket.on("presence", (users) => {
    state.presence = Array.isArray(users) ? users : [];
    renderPresence();
  });

  function renderRooms() {
    const counts = new Map(state.serverRooms.map((r) => [r.name, r.count]));
    const names = [...new Set([...state.joined, ...state.serverRooms.map((r) => r.name)])];
    ui.rooms.replaceChildren(...names.map((name) => {
      const joined = state.joined.includes(name);
      const li = el("li", name === state.active ? "active" : "");
      const label = el("span", "name", "# " + name);
      label.title = name;
      label.addEventListener("click", () => {
        if (joined) activate(name);
        else if (state.nickname) joinRoom(state.nickname, name);
        else { ui.room.value = name; ui.nickname.focus(); }
      });
      li.append(label);
      const unread = state.unread.get(name);
      if (unread) li.append(el("span", "unread", String(unread)));
      if (counts.has(name)) {
        const n = counts.get(name);
        const c = el("span", "members", String(n));
        c.title = n + (n === 1 ? " member" : " members");
        li.append(c);
      }
      const b = el("button", joined ? "leave" : "", joined ? "Leave" : "Join");
      b.type = "button";
      b.addEventListener("click", () => {
        if (joined) leaveRoom(name);
        else if (state.nickname) joinRoom(state.nickname, name);
        else { ui.room.value = name; ui.nickname.focus(); }
      });
      li.append(b);
      return li;
    }));
    ui.roomsEmpty.hidden = names.length > 0;
    ui.roomCount.textContent = names.length ? "(" + names.length + ")" : "";
  }

  function renderMembers() {
    const room = state.active;
    if (room === null) { ui.roomMembers.textContent = ""; return; }
    const here = state.presence.filter((u) => Array.isArray(u.rooms) && u.rooms.includes(room)).map((u) => u.nickname);
    const names = here.length ? here : state.members.get(room) || [];
    ui.roomMembers.textContent = names.length ? names.length + " here: " + names.join(", ") : "";
  }

  function renderPresence() {
    ui.presence.replaceChildren(...state.presence.map((u) => {
      const li = el("li", u.nickname === state.nickname ? "me" : "");
      li.append(el("span", "dot"), el("span", "who", u.nickname));
      const rooms = Array.isArray(u.rooms) ? u.rooms : [];
      if (rooms.length) li.append(el("span", "where", "in " + rooms.map((r) => "#" + r).join(" ")));
      return li;
    }));
    ui.onlineCount.textContent = state.presence.length ? "(" + state.presence.length + ")" : "";
    renderMembers();
  }

  // ---------------------------------------------------------------- messages

  function logOf(room) {
    if (!state.log.has(room)) state.log.set(room, []);
    return state.log.get(room);
  }

  function mergeHistory(room, history) {
    const log = logOf(room);
    const known = new Set(log.filter((m) => m.id).map((m) => m.id));
    for (const m of history) {
      if (!known.has(m.id)) {
        log.push({ kind: "message", id: m.id, nickname: m.nickname, text: m.text, ts: m.ts,
          mine: m.nickname === state.nickname, status: "delivered" });
      }
    }
    log.sort((a, b) => (a.ts || 0) - (b.ts || 0));
    if (room === state.active) renderMessages();
  }

  function renderMessages() {
    const log = state.active === null ? [] : logOf(state.active);
    ui.messages.replaceChildren(...log.map(render));
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function append(room, entry) {
    const log = logOf(room);
    log.push(entry);
    if (room === state.active) {
      ui.messages.append(render(entry));
      ui.messages.scrollTop = ui.messages.scrollHeight;
    } else if (entry.kind === "message") {
      state.unread.set(room, (state.unread.get(room) || 0) + 1);
      renderRooms();
    }
  }

  function render(m) {
    if (m.kind === "notice") {
      m.node = el("li", "notice", m.text);
      return m.node;
    }
    const li = el("li", "message-item" + (m.mine ? " mine" : ""));
    li.dataset.testid = "message-item";
    li.dataset.id = m.id;
    li.append(el("span", "nick", m.nickname), el("span", "text", m.text));
    const meta = el("span", "meta", m.ts ? time(m.ts) : "");
    const tick = el("span", "tick");
    meta.append(tick);
    li.append(meta);
    m.node = li;
    m.tick = tick;
    paintTick(m);
    return li;
  }

  const TICKS = {
    queued: ["queued", "will be sent when the connection is back"],
    sending: ["✓", "sent, waiting for the server"],
    delivered: ["✓✓", "delivered to the server"],
    failed: ["⚠", "refused"],
  };

  function paintTick(m) {
    if (!m.tick || !m.mine) return;
    const [sign, title] = TICKS[m.status] || ["", ""];
    m.tick.textContent = m.status === "failed" ? sign + " " + m.error : sign;
    m.tick.title = m.status === "failed" ? m.error : title;
    m.tick.className = "tick " + m.status;
    m.node.dataset.status = m.status;
  }

  function setMessageStatus(m, status, error) {
    m.status = status;
    m.error = error;
    paintTick(m);
    updateBanner();
  }

  ui.sendForm.addEventListener("submit", (e) => {
    e.preventDefault();
    sendMessage();
  });
  ui.message.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendMessage();
    }
  });

  function sendMessage() {
    const room = state.active;
    const text = ui.message.value;
    if (room === null || !text.trim()) return;
    ui.message.value = "";
    updateCounter();
    stopTyping();
    const m = { kind: "message", id: newId(), room, nickname: state.nickname, text, ts: Date.now(),
      mine: true, status: "queued" };
    append(room, m);
    if (socket.connected) transmit(m);
    else updateBanner();
  }

  function transmit(m) {
    setMessageStatus(m, "sending");
    const attempt = (m.attempt = (m.attempt || 0) + 1);
    socket.timeout(ACK_TIMEOUT).emit("message", { room: m.room, text: m.text, id: m.id }, (err, res) => {
      if (attempt !== m.attempt || m.status !== "sending") return; // a later attempt owns it
      if (err) {
        // No answer: resend when (re)connected.
        setMessageStatus(m, "queued");
        if (socket.connected) transmit(m);
      } else if (res && res.ok) {
        if (res.ts) m.ts = res.ts;
        setMessageStatus(m, "delivered");
      } else {
        setMessageStatus(m, "failed", (res && res.error) || "refused");
      }
    });
  }

  function flushQueue() {
    for (const room of state.joined) {
      for (const m of logOf(room)) if (m.kind === "message" && m.status === "queued") transmit(m);
    }
    updateBanner();
  }

  socket.on("message", (m) => {
    if (!m || typeof m.room !== "string" || !state.joined.includes(m.room)) return;
    const log = logOf(m.room);
    if (log.some((x) => x.id === m.id)) return;
    clearTyping(m.room, m.nickname);
    append(m.room, { kind: "message", id: m.id, nickname: String(m.nickname), text: String(m.text), ts: m.ts,
      mine: false, status: "delivered" });
  });

  socket.on("notice", (n) => {
    if (!n || typeof n.room !== "string" || !state.joined.includes(n.room)) return;
    append(n.room, { kind: "notice", text: String(n.text) });
  });

  // ---------------------------------------------------------------- typing

  ui.message.addEventListener("input", () => {
    updateCounter();
    if (state.active === null || !socket.connected) return;
    if (!ui.message.value) return stopTyping();
    if (!state.typingSent) {
      socket.volatile.emit("typing", { room: state.active, typing: true });
      state.typingSent = state.active;
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(stopTyping, TYPING_IDLE);
  });

  function stopTyping() {
    clearTimeout(state.typingTimer);
    if (state.typingSent && socket.connected) {
      socket.volatile.emit("typing", { room: state.typingSent, typing: false });
    }
    state.typingSent = false;
  }

  function updateCounter() {
    const n = chars(ui.message.value);
    ui.counter.textContent = n > MESSAGE_MAX * 0.9 ? n + "/" + MESSAGE_MAX : "";
    ui.counter.className = "counter" + (n > MESSAGE_MAX ? " over" : "");
  }

  socket.on("typing", (t) => {
    if (!t || typeof t.room !== "string" || typeof t.nickname !== "string") return;
    if (!state.typing.has(t.room)) state.typing.set(t.room, new Map());
    const who = state.typing.get(t.room);
    if (t.typing) who.set(t.nickname, Date.now() + TYPING_SHOWN);
    else who.delete(t.nickname);
    renderTyping();
  });

  function clearTyping(room, nickname) {
    const who = state.typing.get(room);
    if (who && who.delete(nickname)) renderTyping();
  }

  function renderTyping() {
    const who = state.active === null ? null : state.typing.get(state.active);
    const now = Date.now();
    const names = [];
    if (who) {
      for (const [n, until] of who) {
        if (until > now) names.push(n);
        else who.delete(n);
      }
    }
    ui.typing.textContent = names.length === 0 ? ""
      : names.length === 1 ? names[0] + " is typing…"
        : names.length < 4 ? names.join(", ") + " are typing…" : "several people are typing…";
  }
  setInterval(renderTyping, 1000);

  // Starting state.
  setStatus("connecting");
  activate(null);
})();
