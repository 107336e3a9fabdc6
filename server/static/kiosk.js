// The kiosk: an attract loop while nobody is there; greets a person who walks up
// (camera frames checked by the server's OpenCV Haar cascade), returns to idle when
// nobody has been seen for a while. Touch-first; typing and slower speech too.
import { STATE_LABELS, TellerSession, announce, askText, bindToggle, preferredTransport } from "./teller.js";

const PRESENCE_INTERVAL_MS = 333; // ~3 fps
const FACE_TO_START_MS = 1000; // a face present this long starts a session
const NOBODY_TO_IDLE_MS = 20_000; // nobody seen this long ends it
const NO_CAMERA_IDLE_MS = 90_000; // without a camera: quiet this long ends it
const RESTART_COOLDOWN_MS = 8000; // after a session, the same person does not restart it at once
const FRAME_W = 240;
const FRAME_H = 180;
const MAX_FRAME_BYTES = 15_000; // under the server's request body limit

const ATTRACT_LINES = [
  "Ask me about your card, payments or your account.",
  "Card not arrived? Forgotten your passcode? Just ask.",
  "Step closer, or tap the button, to start.",
  "Prefer typing? You can type your question too.",
];

const $ = (id) => document.getElementById(id);
const ui = {
  attract: $("attract"),
  attractLine: $("attract-line"),
  start: $("start"),
  cameraNote: $("camera-note"),
  live: $("live"),
  status: $("status"),
  statusText: $("status-text"),
  frame: $("avatar-frame"),
  poster: $("poster"),
  video: $("avatar"),
  frames: $("avatar-frames"),
  youSaid: $("you-said"),
  botSaid: $("bot-said"),
  notice: $("notice"),
  human: $("human"),
  end: $("end"),
  form: $("ask"),
  question: $("question"),
  camera: $("camera"),
  sr: $("sr"),
};

let session = null;
let sessionId = null;
let sessionToken = null; // proves sessionId to /api/v1/ask
let mode = "idle"; // "idle" | "live"
let faceSince = 0;
let lastFaceAt = 0;
let lastActivity = performance.now();
let cooldownUntil = 0;
let cameraOk = false;

const slowPref = bindToggle($("slow"), "teller.kiosk.slow", (on) => {
  if (session) session.setSlow(on);
});
bindToggle($("contrast"), "teller.kiosk.contrast", (on) => {
  document.documentElement.classList.toggle("high-contrast", on);
});

// ------------------------------------------------------------------ attract loop
let lineIndex = 0;
setInterval(() => {
  if (mode !== "idle") return;
  lineIndex = (lineIndex + 1) % ATTRACT_LINES.length;
  ui.attractLine.textContent = ATTRACT_LINES[lineIndex];
}, 4000);

function setMode(next) {
  mode = next;
  document.body.dataset.mode = next;
  ui.attract.hidden = next !== "idle";
  ui.live.hidden = next !== "live";
}

function setState(state) {
  ui.status.dataset.state = state;
  ui.frame.dataset.state = state;
  ui.statusText.textContent = STATE_LABELS[state] || state;
  lastActivity = performance.now();
}

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

function showVideo(kind) {
  ui.video.hidden = kind !== "webrtc";
  ui.frames.hidden = kind !== "websocket";
  ui.poster.hidden = kind === "webrtc" || kind === "websocket";
}

// ------------------------------------------------------------------ sessions
async function startSession(reason) {
  if (mode === "live") return;
  setMode("live");
  sessionId = null;
  sessionToken = null;
  showNotice("");
  ui.youSaid.hidden = true;
  ui.botSaid.textContent = "Hello! Just speak, or type your question below.";
  showVideo("none");
  setState("connecting");
  announce(ui.sr, reason === "face" ? "Hello! I'm Ava. How can I help?" : "Connecting to Ava.");
  session = new TellerSession({
    video: ui.video,
    image: ui.frames,
    transport: preferredTransport(),
    slow: slowPref(),
  });
  session.addEventListener("state", (ev) => setState(ev.detail));
  session.addEventListener("transport", (ev) => {
    sessionId = session.sessionId;
    sessionToken = session.token;
    showVideo(ev.detail);
  });
  session.addEventListener("message", (ev) => onMessage(ev.detail));
  session.addEventListener("reconnecting", () => showNotice("Connection lost — reconnecting…"));
  session.addEventListener("reconnected", () => showNotice(""));
  session.addEventListener("failed", (ev) => showNotice(`${ev.detail.message} You can type your question below.`));
  session.addEventListener("closed", () => endSession());
  session.addEventListener("needs-gesture", () => showNotice("Tap the screen to hear Ava."));
  await session.start();
}

function endSession() {
  if (session) {
    const s = session;
    session = null;
    s.stop(false);
  }
  cooldownUntil = performance.now() + RESTART_COOLDOWN_MS;
  faceSince = 0;
  showVideo("none");
  setMode("idle");
}

function onMessage(msg) {
  lastActivity = performance.now();
  if (msg.type === "session" && msg.session_id) sessionId = msg.session_id;
  else if (msg.type === "transcript") {
    ui.youSaid.textContent = `You: ${msg.text}`;
    ui.youSaid.hidden = false;
  } else if (msg.type === "bot_text") {
    ui.botSaid.textContent = msg.text;
  } else if (msg.type === "history") {
    const last = (msg.lines || []).filter((line) => line.speaker !== "customer").pop();
    if (last) ui.botSaid.textContent = last.text;
  } else if (msg.type === "error") {
    if (msg.code === "asr_empty" || msg.code === "asr_failed") ui.botSaid.textContent = msg.message;
    else showNotice(msg.message);
  }
}

ui.start.addEventListener("click", () => startSession("tap"));
ui.end.addEventListener("click", () => endSession());
ui.human.addEventListener("click", () => {
  if (session) session.askHuman();
});
ui.form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = ui.question.value.trim();
  if (!text) return;
  ui.question.value = "";
  lastActivity = performance.now();
  ui.youSaid.textContent = `You: ${text}`;
  ui.youSaid.hidden = false;
  if (session && session.live && session.sendText(text)) return;
  try {
    const reply = await askText(text, sessionId, sessionToken);
    sessionId = reply.session_id;
    sessionToken = reply.token;
    ui.botSaid.textContent = reply.text;
  } catch (err) {
    showNotice(err.message);
  }
});
document.addEventListener("pointerdown", () => {
  lastActivity = performance.now();
  if (session) session.unlockAudio();
});

// ------------------------------------------------------------------ presence
async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return false;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 5, max: 10 }, facingMode: "user" },
      audio: false,
    });
    ui.camera.srcObject = stream;
    await ui.camera.play();
    return true;
  } catch {
    return false;
  }
}

const canvas = document.createElement("canvas");
canvas.width = FRAME_W;
canvas.height = FRAME_H;
const ctx2d = canvas.getContext("2d", { willReadFrequently: false });

function frameJpeg(quality) {
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
}

async function checkPresence() {
  if (ui.camera.readyState < 2) return null;
  ctx2d.drawImage(ui.camera, 0, 0, FRAME_W, FRAME_H);
  let blob = await frameJpeg(0.7);
  if (blob && blob.size > MAX_FRAME_BYTES) blob = await frameJpeg(0.45);
  if (!blob || blob.size > MAX_FRAME_BYTES) return null;
  const response = await fetch("/api/v1/kiosk/presence", {
    method: "POST",
    headers: { "Content-Type": "image/jpeg" },
    body: blob,
  });
  if (!response.ok) return null;
  const body = await response.json();
  return Boolean(body.face);
}

async function presenceLoop() {
  cameraOk = await startCamera();
  if (!cameraOk) {
    document.body.dataset.presence = "unavailable";
    ui.cameraNote.textContent = "Tap the button to start.";
  }
  for (;;) {
    const started = performance.now();
    if (cameraOk) {
      let face = null;
      try {
        face = await checkPresence();
      } catch {
        face = null;
      }
      if (face !== null) document.body.dataset.presence = "checked";
      const now = performance.now();
      if (face) {
        lastFaceAt = now;
        if (!faceSince) faceSince = now;
        if (mode === "idle" && now - faceSince >= FACE_TO_START_MS && now >= cooldownUntil) startSession("face");
      } else if (face === false) {
        faceSince = 0;
        if (mode === "idle" && now - lastFaceAt > 5000) cooldownUntil = 0; // they left: greet the next one
      }
      if (mode === "live" && now - Math.max(lastFaceAt, lastActivity) > NOBODY_TO_IDLE_MS && !isBusy()) {
        endSession();
      }
    } else if (mode === "live" && performance.now() - lastActivity > NO_CAMERA_IDLE_MS && !isBusy()) {
      endSession();
    }
    const wait = PRESENCE_INTERVAL_MS - (performance.now() - started);
    await new Promise((r) => setTimeout(r, Math.max(50, wait)));
  }
}

function isBusy() {
  return Boolean(session && (session.state === "speaking" || session.state === "thinking"));
}

setMode("idle");
presenceLoop();
