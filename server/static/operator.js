// The operator console: live sessions, the queue, one session's transcript, takeover.
// Protocol: server/operator/commands.py (commands) and server/operator/events.py (events).
// Every command carries a client_msg_id; unacknowledged commands are resent after a
// reconnect, and the server's ledger makes the resend harmless.

const $ = (id) => document.getElementById(id);
const state = {
  ws: null,
  sessions: new Map(),
  queue: [],
  selected: null,
  transcripts: new Map(),
  briefs: new Map(),
  drafts: new Map(), // session_id -> Map(draft_id -> text)
  pending: new Map(), // client_msg_id -> command
  backoff: 500,
};

function newId() {
  return (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

function send(command) {
  const message = { client_msg_id: newId(), ...command };
  state.pending.set(message.client_msg_id, message);
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
  return message.client_msg_id;
}

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/api/v1/operator/ws`);
  state.ws = ws;
  $("link").dataset.state = "connecting";
  $("link").textContent = "connecting…";
  ws.addEventListener("open", () => {
    state.backoff = 500;
    $("link").dataset.state = "open";
    $("link").textContent = "live";
    for (const message of state.pending.values()) ws.send(JSON.stringify(message));
    if (state.selected) send({ type: "watch", session_id: state.selected });
  });
  ws.addEventListener("message", (ev) => onEvent(JSON.parse(ev.data)));
  ws.addEventListener("close", (ev) => {
    $("link").dataset.state = "closed";
    $("link").textContent = ev.code === 1008 ? "login needed" : "reconnecting…";
    if (ev.code === 1008) {
      location.href = "/login?next=/operator";
      return;
    }
    setTimeout(connect, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 8000);
  });
}

function onEvent(event) {
  switch (event.type) {
    case "session_list":
      state.sessions = new Map(event.sessions.map((s) => [s.session_id, s]));
      renderSessions();
      renderView();
      break;
    case "queue":
      state.queue = event.entries;
      renderQueue();
      break;
    case "transcript": {
      const turns = event.full ? [] : state.transcripts.get(event.session_id) || [];
      const seen = new Set(turns.map((t) => t.seq));
      for (const turn of event.turns) if (!seen.has(turn.seq)) turns.push(turn);
      turns.sort((a, b) => a.seq - b.seq);
      state.transcripts.set(event.session_id, turns);
      if (event.session_id === state.selected) renderTranscript();
      break;
    }
    case "brief":
      state.briefs.set(event.session_id, { ...event.brief, ticket: event.ticket });
      if (event.session_id === state.selected) renderBrief();
      break;
    case "draft": {
      const drafts = state.drafts.get(event.session_id) || new Map();
      drafts.set(event.draft_id, event.text);
      state.drafts.set(event.session_id, drafts);
      if (event.session_id === state.selected) renderDrafts();
      break;
    }
    case "mode_changed":
      if (event.mode !== "assist") state.drafts.delete(event.session_id);
      if (event.session_id === state.selected) renderDrafts();
      break;
    case "closed":
      state.sessions.delete(event.session_id);
      renderSessions();
      renderView();
      break;
    case "bus_status": // degraded: the bus between workers (Redis) is unreachable
      $("bus-banner").hidden = !event.degraded;
      break;
    case "ack":
      state.pending.delete(event.client_msg_id);
      $("console-error").textContent = "";
      break;
    case "error":
      if (event.client_msg_id && !event.retryable) state.pending.delete(event.client_msg_id);
      $("console-error").textContent = event.message;
      break;
    default:
      break;
  }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function select(sessionId) {
  state.selected = sessionId;
  send({ type: "watch", session_id: sessionId });
  renderSessions();
  renderQueue();
  renderView();
}

function waited(joinedAt) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(joinedAt)) / 1000));
  return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
}

function renderQueue() {
  const list = $("queue");
  list.replaceChildren(
    ...state.queue.map((entry) => {
      const item = el(
        "li",
        { dataset: { session: entry.session_id }, "aria-selected": String(entry.session_id === state.selected) },
        el("span", { class: `reason ${entry.reason}` }, entry.reason.replace("_", " ")),
        el(
          "span",
          { class: "meta" },
          `${entry.session_id.slice(0, 8)} · waiting ${waited(entry.joined_at)}` +
            (entry.claimed_by ? ` · with ${entry.claimed_by}` : ""),
        ),
      );
      item.addEventListener("click", () => select(entry.session_id));
      return item;
    }),
  );
  $("queue-empty").hidden = state.queue.length > 0;
}

function renderSessions() {
  const list = $("sessions");
  const sessions = [...state.sessions.values()];
  list.replaceChildren(
    ...sessions.map((s) => {
      const confidence = s.confidence == null ? "" : ` · confidence ${s.confidence.toFixed(2)}`;
      const item = el(
        "li",
        { dataset: { session: s.session_id }, "aria-selected": String(s.session_id === state.selected) },
        el("span", {}, el("b", {}, s.mode.toUpperCase()), ` ${s.session_id.slice(0, 8)} · ${s.channel}`),
        el("span", { class: "meta" }, (s.last_utterance || "(nothing said yet)") + confidence),
        el("span", { class: "meta" }, [s.claimed_by ? `with ${s.claimed_by}` : "", ...s.flags].filter(Boolean).join(" · ")),
      );
      item.addEventListener("click", () => select(s.session_id));
      return item;
    }),
  );
  $("sessions-empty").hidden = sessions.length > 0;
}

function renderView() {
  const s = state.selected ? state.sessions.get(state.selected) : null;
  $("view-title").textContent = s ? `Session ${s.session_id.slice(0, 8)}` : state.selected ? "Session ended" : "Pick a session";
  $("view-mode").textContent = s ? s.mode : "";
  $("view-mode").dataset.mode = s ? s.mode : "";
  const live = Boolean(s) && s.mode !== "closed";
  $("take-over").disabled = !live || s.mode === "human";
  $("assist").disabled = !live || s.mode === "assist";
  $("hand-back").disabled = !live || s.mode === "bot";
  const speaking = live && (s.mode === "human" || s.mode === "assist");
  $("say-send").disabled = !speaking;
  $("say-mic").disabled = !speaking;
  renderTranscript();
  renderBrief();
  renderDrafts();
}

function renderTranscript() {
  const turns = state.transcripts.get(state.selected) || [];
  const list = $("transcript");
  list.replaceChildren(
    ...turns.map((t) =>
      el("li", { dataset: { speaker: t.speaker, seq: String(t.seq) } }, el("span", { class: "who" }, t.speaker), t.text),
    ),
  );
  list.scrollTop = list.scrollHeight;
}

function renderBrief() {
  const brief = state.briefs.get(state.selected);
  const box = $("brief");
  box.hidden = !brief;
  if (!brief) return;
  const rows = [
    ["Why", brief.reason || "picked by an operator"],
    ["Topic", [brief.product, brief.scenario, brief.problem_title || brief.problem].filter(Boolean).join(" → ") || "unknown"],
    ["Goal", brief.customer_goal || "—"],
    ["Amounts", brief.amounts.join(", ") || "—"],
    ["Dates", brief.dates.join(", ") || "—"],
    ["Account hints", brief.account_hints.join(", ") || "—"],
    ["Bot said", brief.bot_said.join(" / ") || "—"],
  ];
  if (brief.ticket) {
    rows.push(
      ["Ticket", `${brief.ticket.resolution} · ${brief.ticket.summary || brief.ticket.customer_goal}`],
      ["Follow-up", brief.ticket.follow_up || "—"],
    );
  }
  box.replaceChildren(el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
}

function renderDrafts() {
  const drafts = state.drafts.get(state.selected) || new Map();
  const box = $("drafts");
  box.replaceChildren(
    ...[...drafts.entries()].map(([draftId, text]) => {
      const area = el("textarea", { "aria-label": "Draft reply" });
      area.value = text;
      const approve = el("button", { type: "button" }, "Approve");
      const edit = el("button", { type: "button" }, "Send edited");
      const reject = el("button", { type: "button" }, "Reject");
      const done = () => {
        drafts.delete(draftId);
        renderDrafts();
      };
      approve.addEventListener("click", () => {
        send({ type: "approve", session_id: state.selected, draft_id: draftId });
        done();
      });
      edit.addEventListener("click", () => {
        send({ type: "edit", session_id: state.selected, draft_id: draftId, text: area.value });
        done();
      });
      reject.addEventListener("click", () => {
        send({ type: "reject", session_id: state.selected, draft_id: draftId });
        done();
      });
      return el("div", { class: "draft" }, el("b", {}, "Draft reply"), area, el("div", {}, approve, edit, reject));
    }),
  );
}

// ------------------------------------------------------------ the operator's own voice
// Press Mic, speak, press again: the line (PCM16, 16 kHz) goes to the server, which
// transcribes it and has the avatar say it in its own voice.
const mic = { context: null, stream: null, node: null, chunks: [] };

async function startMic() {
  mic.stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
  mic.context = new AudioContext();
  await mic.context.audioWorklet.addModule("/static/pcm-worklet.js");
  const source = mic.context.createMediaStreamSource(mic.stream);
  mic.node = new AudioWorkletNode(mic.context, "pcm16-downsampler", { processorOptions: { targetRate: 16000, chunkMs: 100 } });
  mic.chunks = [];
  mic.node.port.onmessage = (ev) => mic.chunks.push(new Int16Array(ev.data));
  source.connect(mic.node);
}

async function stopMicAndSend() {
  mic.node.port.onmessage = null;
  mic.stream.getTracks().forEach((t) => t.stop());
  await mic.context.close();
  const samples = mic.chunks.reduce((n, c) => n + c.length, 0);
  const pcm = new Int16Array(samples);
  let at = 0;
  for (const chunk of mic.chunks) {
    pcm.set(chunk, at);
    at += chunk.length;
  }
  const header = new TextEncoder().encode(
    JSON.stringify({ type: "say_audio", client_msg_id: newId(), session_id: state.selected }),
  );
  const message = new Uint8Array(2 + header.length + pcm.byteLength);
  new DataView(message.buffer).setUint16(0, header.length);
  message.set(header, 2);
  message.set(new Uint8Array(pcm.buffer), 2 + header.length);
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(message);
}

async function toggleMic() {
  const button = $("say-mic");
  const recording = button.getAttribute("aria-pressed") === "true";
  button.setAttribute("aria-pressed", String(!recording));
  button.textContent = recording ? "Mic" : "Stop & speak";
  try {
    if (recording) await stopMicAndSend();
    else await startMic();
  } catch (err) {
    $("console-error").textContent = `Microphone: ${err.message}`;
    button.setAttribute("aria-pressed", "false");
    button.textContent = "Mic";
  }
}

async function loadConfig() {
  const response = await fetch("/api/v1/operator/config", { credentials: "same-origin" });
  if (!response.ok) return;
  const config = await response.json();
  $("operator-name").textContent = config.operator;
  const canned = $("canned");
  for (const phrase of config.canned_phrases) canned.append(el("option", { value: phrase }, phrase));
}

function wire() {
  $("take-over").addEventListener("click", () => send({ type: "take_over", session_id: state.selected }));
  $("hand-back").addEventListener("click", () => send({ type: "hand_back", session_id: state.selected }));
  $("assist").addEventListener("click", () => send({ type: "set_mode", session_id: state.selected, mode: "assist" }));
  $("canned").addEventListener("change", (ev) => {
    if (ev.target.value) $("say-text").value = ev.target.value;
    ev.target.value = "";
    $("say-text").focus();
  });
  $("say-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("say-text").value.trim();
    if (!text || !state.selected) return;
    send({ type: "say", session_id: state.selected, text });
    $("say-text").value = "";
  });
  $("say-mic").addEventListener("click", toggleMic);
  setInterval(renderQueue, 1000);
}

wire();
loadConfig();
connect();
