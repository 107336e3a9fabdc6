// The customer page: voice session with the avatar, typed questions, transcript, feedback.
import {
  STATE_LABELS,
  TellerSession,
  announce,
  askText,
  bindToggle,
  preferredTransport,
  sendFeedback,
} from "./teller.js";

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"),
  statusText: $("status-text"),
  frame: $("avatar-frame"),
  poster: $("poster"),
  video: $("avatar"),
  frames: $("avatar-frames"),
  youSaid: $("you-said"),
  botSaid: $("bot-said"),
  mic: $("mic"),
  micLabel: $("mic-label"),
  human: $("human"),
  hangup: $("hangup"),
  notice: $("notice"),
  form: $("ask"),
  question: $("question"),
  log: $("log"),
  feedback: $("feedback"),
  fbStatus: $("fb-status"),
  sr: $("sr"),
};

let session = null;
let sessionId = null; // survives hang-up: feedback and typed questions continue the conversation
let sessionToken = null; // proves sessionId to /ask and /feedback (Authorization: Bearer)
let rated = false;
let levelTimer = 0;

const slowPref = bindToggle($("slow"), "teller.slow", (on) => {
  if (session) session.setSlow(on);
});
bindToggle($("contrast"), "teller.contrast", (on) => {
  document.documentElement.classList.toggle("high-contrast", on);
});

function setState(state) {
  ui.status.dataset.state = state;
  ui.frame.dataset.state = state;
  ui.statusText.textContent = STATE_LABELS[state] || state;
  const active = state !== "idle" && state !== "ended";
  ui.human.disabled = !active || state === "connecting" || state === "reconnecting";
  ui.hangup.disabled = !active;
  ui.mic.classList.toggle("is-live", active);
  if (!active) {
    ui.micLabel.textContent = state === "ended" ? "Start again" : "Start talking";
    ui.mic.setAttribute("aria-pressed", "false");
  } else if (session && session.muted) {
    ui.micLabel.textContent = "Unmute";
  } else {
    ui.micLabel.textContent = state === "connecting" ? "Connecting…" : "Mute";
  }
}

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

function addToLog(who, text, extra = {}) {
  const empty = ui.log.querySelector(".empty");
  if (empty) empty.remove();
  const item = document.createElement("li");
  item.className = `msg msg-${who}`;
  const name = document.createElement("span");
  name.className = "who";
  name.textContent = who === "you" ? "You" : extra.speaker === "operator" ? "Colleague" : "Ava";
  const body = document.createElement("p");
  body.textContent = text;
  item.append(name, body);
  if (extra.decision && extra.decision !== "answer") {
    const tag = document.createElement("span");
    tag.className = `tag tag-${extra.decision}`;
    tag.textContent = { clarify: "Question", handoff: "Passing you to a colleague", refuse: "Can't help here" }[
      extra.decision
    ] || extra.decision;
    item.append(tag);
  }
  if (extra.note) item.classList.add("msg-note");
  ui.log.append(item);
  item.scrollIntoView({ block: "end", behavior: "smooth" });
}

/** A resumed session's conversation so far (the server's copy) replaces the log. */
function showHistory(lines) {
  ui.log.replaceChildren();
  for (const line of lines) {
    if (line.speaker === "customer") addToLog("you", line.text);
    else addToLog("bot", line.text, { speaker: line.speaker });
  }
  const last = lines.filter((line) => line.speaker !== "customer").pop();
  if (last) showBotText(last.text, last.speaker);
}

function showBotText(text, speaker) {
  ui.botSaid.textContent = text;
  ui.botSaid.classList.toggle("operator", speaker === "operator");
}

function showYouSaid(text) {
  ui.youSaid.textContent = `You: ${text}`;
  ui.youSaid.hidden = false;
}

function showVideo(kind) {
  ui.video.hidden = kind !== "webrtc";
  ui.frames.hidden = kind !== "websocket";
  ui.poster.hidden = kind === "webrtc" || kind === "websocket";
}

function onMessage(msg) {
  switch (msg.type) {
    case "session":
      if (msg.session_id) sessionId = msg.session_id;
      break;
    case "transcript":
      showYouSaid(msg.text);
      addToLog("you", msg.text);
      break;
    case "bot_text":
      showBotText(msg.text, msg.speaker);
      addToLog("bot", msg.text, { decision: msg.decision, speaker: msg.speaker });
      break;
    case "history":
      showHistory(msg.lines || []);
      break;
    case "error":
      if (msg.code === "asr_empty" || msg.code === "asr_failed") showBotText(msg.message, "bot");
      else showNotice(msg.message);
      break;
    default:
      break;
  }
}

async function startSession() {
  showNotice("");
  rated = false;
  ui.fbStatus.textContent = "";
  ui.feedback.classList.remove("prompt");
  session = new TellerSession({
    video: ui.video,
    image: ui.frames,
    transport: preferredTransport(),
    slow: slowPref(),
  });
  session.addEventListener("state", (ev) => setState(ev.detail));
  session.addEventListener("message", (ev) => onMessage(ev.detail));
  session.addEventListener("transport", (ev) => {
    sessionId = session.sessionId;
    sessionToken = session.token;
    showVideo(ev.detail);
    ui.frame.dataset.transport = ev.detail;
    announce(ui.sr, "Connected. Ava is listening.");
  });
  session.addEventListener("reconnecting", () => {
    showNotice("Connection lost — reconnecting…");
    announce(ui.sr, "Connection lost. Reconnecting.");
  });
  session.addEventListener("reconnected", () => {
    showNotice("");
    announce(ui.sr, "Reconnected. Ava is listening.");
  });
  session.addEventListener("failed", (ev) => {
    showNotice(`${ev.detail.message} You can still type your question below.`);
  });
  session.addEventListener("closed", () => endSession(false));
  clearInterval(levelTimer);
  levelTimer = setInterval(() => {
    const level = session ? session.micLevel() : 0;
    ui.mic.style.setProperty("--level", level.toFixed(2));
  }, 100);
  await session.start();
}

function endSession(hangUp = true) {
  clearInterval(levelTimer);
  ui.mic.style.setProperty("--level", "0");
  if (session) {
    const s = session;
    session = null;
    if (hangUp) s.stop(false);
  }
  showVideo("none");
  setState("ended");
  if (!rated) ui.feedback.classList.add("prompt");
  announce(ui.sr, "The call has ended. Was this helpful?");
}

ui.mic.addEventListener("click", () => {
  if (!session) {
    startSession();
    return;
  }
  if (session.state === "connecting") return;
  session.setMuted(!session.muted);
  ui.mic.setAttribute("aria-pressed", session.muted ? "true" : "false");
  setState(session.state);
  announce(ui.sr, session.muted ? "Microphone muted" : "Microphone on");
});

ui.hangup.addEventListener("click", () => endSession(true));

ui.human.addEventListener("click", () => {
  if (session && session.askHuman()) {
    addToLog("you", "I'd like to talk to a person.", { note: true });
  }
});

ui.form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = ui.question.value.trim();
  if (!text) {
    ui.question.focus();
    return;
  }
  ui.question.value = "";
  if (session && session.live && session.sendText(text)) {
    showYouSaid(text);
    return; // the transcript event echoes it into the log
  }
  addToLog("you", text);
  showYouSaid(text);
  setState("thinking");
  try {
    const reply = await askText(text, sessionId, sessionToken);
    sessionId = reply.session_id;
    sessionToken = reply.token;
    showBotText(reply.text, "bot");
    addToLog("bot", reply.text, { decision: reply.decision });
  } catch (err) {
    showNotice(err.message);
  } finally {
    setState(session ? session.state : "idle");
  }
});

for (const button of ui.feedback.querySelectorAll(".thumb")) {
  button.addEventListener("click", async () => {
    const rating = button.dataset.rating;
    for (const b of ui.feedback.querySelectorAll(".thumb")) b.setAttribute("aria-pressed", String(b === button));
    if (!sessionId) {
      ui.fbStatus.textContent = "Ask a question first, then tell us how we did.";
      return;
    }
    try {
      await sendFeedback(sessionId, rating, null, sessionToken);
      rated = true;
      ui.feedback.classList.remove("prompt");
      ui.fbStatus.textContent = "Thank you for your feedback.";
    } catch (err) {
      ui.fbStatus.textContent =
        err.status === 404 ? "Ask a question first, then tell us how we did." : `Feedback not sent: ${err.message}`;
    }
  });
}

window.addEventListener("pagehide", () => {
  if (session) session.stop(false);
});

setState("idle");
