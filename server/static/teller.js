// Shared client of the Digital Teller voice path: used by the customer page (app.js)
// and the kiosk (kiosk.js). Plain ES module, no dependencies.
//
// A TellerSession connects over WebRTC (preferred) or the websocket fallback,
// plays the avatar (video + voice), and reports:
//   "state"        detail: "connecting" | "listening" | "thinking" | "speaking" | "reconnecting" | "ended"
//   "message"      detail: one JSON event from the server (transcript, bot_text, error, session, history...)
//   "transport"    detail: "webrtc" | "websocket"
//   "reconnecting" the connection was lost; the same session is being resumed (perhaps on another worker)
//   "reconnected"  it was: the server sends the conversation so far ("history" message)
//   "failed"       detail: {message, status}  (could not connect or reconnect; the text box still works)
//   "closed"       the session ended (hang-up, ended by the teller, reconnecting gave up)

const API = "/api/v1";
const WEBRTC_CONNECT_TIMEOUT_MS = 5000;
const ICE_GATHER_TIMEOUT_MS = 3000;
const SPEAKING_LEVEL = 0.015; // RMS of bot audio above which the avatar counts as speaking
const SPEAKING_HANGOVER_MS = 900;
const MAX_TEXT = 1000;
// A lost connection is resumed (POST /session/resume) after each of these pauses (±20 %), then given up.
const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 8000];
const DISCONNECTED_GRACE_MS = 4000; // WebRTC "disconnected" this long counts as lost
const FINAL_STATUSES = new Set([401, 404, 410]); // resume refused: bad/expired token, off, conversation closed
const FINAL_CLOSE_CODES = new Set([4401, 4409, 4410]); // websocket closes that no retry can fix
const NORMAL_CLOSE = 1000;
const WS_PROTOCOL = "teller.v1"; // the websocket's subprotocol; the token is offered as teller.token.<token>
const WS_TOKEN_PREFIX = "teller.token."; // the server ended the session on purpose (idle, closed by the teller)

export class TellerError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;
  }
}

async function jsonOrError(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = (body && (body.error || body.detail)) || `The service answered ${response.status}.`;
    throw new TellerError(typeof message === "string" ? message : "The request was refused.", response.status);
  }
  return body;
}

export async function newGrant() {
  return jsonOrError(await fetch(`${API}/session`, { cache: "no-store" }));
}

/** A new grant for the same session, with the token of the connection that was lost. */
export async function resumeGrant(token) {
  return jsonOrError(
    await fetch(`${API}/session/resume`, {
      method: "POST",
      cache: "no-store",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    }),
  );
}

function pause(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms * (0.8 + Math.random() * 0.4)));
}

/** Where a grant's session signals: its worker's prefix (/w/<worker>, routed by the edge) or this origin. */
function signallingBase(grant) {
  return `${grant.signalling_url || ""}${API}`;
}

/** JSON headers, with the conversation's token (from /ask or the voice grant) when there is one. */
function authorized(token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

/**
 * A typed question without a live session: the answer comes back as text, with the conversation's
 * token (reply.token) for the next question. A conversation's questions need its token; when it is
 * refused (expired), the question starts a new conversation.
 */
export async function askText(text, sessionId, token) {
  const body = { text: text.slice(0, MAX_TEXT) };
  if (sessionId && token) body.session_id = sessionId;
  try {
    return jsonOrError(
      await fetch(`${API}/ask`, { method: "POST", headers: authorized(token), body: JSON.stringify(body) }),
    );
  } catch (err) {
    if (!token || ![401, 403].includes(err.status)) throw err;
    return askText(text, null, null);
  }
}

export async function sendFeedback(sessionId, rating, comment, token) {
  const body = { session_id: sessionId, rating };
  if (comment) body.comment = comment.slice(0, 500);
  return jsonOrError(
    await fetch(`${API}/feedback`, { method: "POST", headers: authorized(token), body: JSON.stringify(body) }),
  );
}

export function preferredTransport() {
  const wanted = new URLSearchParams(location.search).get("transport");
  return wanted === "ws" || wanted === "websocket" ? "websocket" : wanted === "webrtc" ? "webrtc" : "auto";
}

function micConstraints() {
  return {
    audio: {
      echoCancellation: true,
      noiseSuppression: true,
      autoGainControl: true,
      channelCount: 1,
    },
    video: false,
  };
}

function rms(analyser, buffer) {
  analyser.getFloatTimeDomainData(buffer);
  let sum = 0;
  for (let i = 0; i < buffer.length; i += 1) sum += buffer[i] * buffer[i];
  return Math.sqrt(sum / buffer.length);
}

export class TellerSession extends EventTarget {
  /**
   * @param {{video: HTMLVideoElement, image: HTMLImageElement, transport?: string, slow?: boolean}} opts
   */
  constructor(opts) {
    super();
    this.video = opts.video;
    this.image = opts.image;
    this.transport = opts.transport || "auto";
    this.slow = Boolean(opts.slow);
    this.state = "idle";
    this.sessionId = null;
    this.channel = null; // "webrtc" | "websocket"
    this._pc = null;
    this._dc = null;
    this._ws = null;
    this._mic = null;
    this._audio = null; // AudioContext
    this._botAnalyser = null;
    this._micAnalyser = null;
    this._levelBuf = new Float32Array(1024);
    this._lastLoud = 0;
    this._poll = 0;
    this._closed = false;
    this._wsPlayer = null;
    this._frameUrl = null;
    this._muted = false;
    this._grant = null; // of the live connection: its token resumes the session
    this._reconnecting = false;
    this._endedByTeller = false; // the server closed the conversation: nothing to resume
    this._disconnectTimer = 0;
  }

  get live() {
    return !this._closed && (this._dcOpen() || this._wsOpen());
  }

  /** The signed token of this session's grant: typed questions and feedback send it (Bearer). */
  get token() {
    return this._grant ? this._grant.token : null;
  }

  _dcOpen() {
    return Boolean(this._dc && this._dc.readyState === "open");
  }

  _wsOpen() {
    return Boolean(this._ws && this._ws.readyState === WebSocket.OPEN);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setState(state) {
    if (this.state === state || (this.state === "ended" && state !== "connecting")) return;
    this.state = state;
    this._emit("state", state);
  }

  /** Start on a user gesture (autoplay with sound and the mic prompt need one). */
  async start() {
    this._closed = false;
    this._setState("connecting");
    this._audio = new AudioContext({ latencyHint: "interactive" });
    if (this._audio.state === "suspended") await this._audio.resume().catch(() => {});
    try {
      this._mic = await navigator.mediaDevices.getUserMedia(micConstraints());
    } catch (err) {
      this._fail(`The microphone is not available (${err.name || err}). You can still type your question.`);
      return;
    }
    this._micAnalyser = this._analyserFor(this._mic);
    if (this.transport !== "websocket" && "RTCPeerConnection" in window) {
      const grant = await this._firstGrant();
      if (!grant) return;
      try {
        if (await this._startWebRTC(grant)) return;
      } catch (err) {
        this._fail(err.message, err.status); // the offer was refused: no fallback either
        return;
      }
      if (this._closed || this.transport === "webrtc") return;
      this._teardownPeer();
    }
    if (this._closed) return;
    const grant = await this._firstGrant();
    if (!grant) return;
    const opened = await this._startWebsocket(grant);
    if (opened.ok || this._closed) return;
    if (opened.code === 4503 || FINAL_CLOSE_CODES.has(opened.code)) {
      this._emit("failed", { message: opened.reason || "The voice service is not available.", status: 503 });
    }
    this.stop(true);
  }

  async _firstGrant() {
    try {
      return await newGrant();
    } catch (err) {
      this._fail(err.message, err.status);
      return null;
    }
  }

  _fail(message, status = 0) {
    this._emit("failed", { message, status });
    this.stop(false);
  }

  _analyserFor(stream) {
    if (!this._audio || !stream.getAudioTracks().length) return null;
    const source = this._audio.createMediaStreamSource(stream);
    const analyser = this._audio.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser);
    return analyser;
  }

  // ---------------------------------------------------------------- WebRTC
  /** True once connected; false when WebRTC did not connect; throws the server's refusal of the offer. */
  async _startWebRTC(grant) {
    this._grant = grant;
    this.sessionId = grant.session_id;
    // STUN and TURN (coturn, with this session's expiring credentials) from the grant
    const pc = new RTCPeerConnection({ iceServers: grant.ice_servers || [] });
    this._pc = pc;
    const remote = new MediaStream();
    for (const track of this._mic.getAudioTracks()) pc.addTrack(track, this._mic);
    pc.addTransceiver("video", { direction: "recvonly" });
    const dc = pc.createDataChannel("teller");
    this._dc = dc;
    dc.addEventListener("message", (ev) => this._onMessage(ev.data));
    dc.addEventListener("open", () => {
      this._setState("listening");
      if (this.slow) this.setSlow(true);
    });
    dc.addEventListener("close", () => {
      // The server hanging up closes the channel on a connected peer; a lost network or server fails the peer.
      if (this._pc === pc) this._lost(pc.connectionState !== "connected" && pc.connectionState !== "closed");
    });
    pc.addEventListener("track", (ev) => {
      remote.addTrack(ev.track);
      if (this.video.srcObject !== remote) this.video.srcObject = remote;
      this.video.muted = false;
      this.video.play().catch(() => this._autoplayBlocked());
      if (ev.track.kind === "audio") this._botAnalyser = this._analyserFor(new MediaStream([ev.track]));
    });
    pc.addEventListener("connectionstatechange", () => {
      if (this._pc !== pc || this.channel !== "webrtc") return;
      clearTimeout(this._disconnectTimer);
      if (pc.connectionState === "failed") this._lost(true);
      else if (pc.connectionState === "closed") this._lost(false);
      else if (pc.connectionState === "disconnected") {
        this._disconnectTimer = setTimeout(() => {
          if (this._pc === pc && pc.connectionState === "disconnected") this._lost(true);
        }, DISCONNECTED_GRACE_MS);
      }
    });

    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      const timer = setTimeout(resolve, ICE_GATHER_TIMEOUT_MS);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    if (this._closed) return false;
    let answer;
    try {
      answer = await jsonOrError(
        await fetch(`${signallingBase(grant)}/webrtc/offer`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer", token: grant.token }),
        }),
      );
    } catch (err) {
      if ([401, 409, 410, 422, 503].includes(err.status)) throw err;
      return false; // try the websocket
    }
    if (this._closed) return false;
    await pc.setRemoteDescription({ sdp: answer.sdp, type: answer.type });
    const connected = await new Promise((resolve) => {
      const done = () => {
        if (pc.connectionState === "connected" && this._dcOpen()) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      const timer = setTimeout(() => resolve(pc.connectionState === "connected"), WEBRTC_CONNECT_TIMEOUT_MS);
      pc.addEventListener("connectionstatechange", done);
      dc.addEventListener("open", done);
      done();
    });
    if (!connected) return false;
    this.channel = "webrtc";
    this._emit("transport", "webrtc");
    this._startPolling();
    return true;
  }

  /** Autoplay with sound was refused (no user gesture yet): play muted until a tap. */
  _autoplayBlocked() {
    if (this.video.muted) return;
    this.video.muted = true;
    this.video.play().catch(() => {});
    this._emit("needs-gesture", null);
  }

  /** Call from a user gesture: unmutes the avatar and resumes audio if autoplay held them back. */
  unlockAudio() {
    if (this.video.muted && this.video.srcObject) {
      this.video.muted = false;
      this.video.play().catch(() => {});
    }
    if (this._audio && this._audio.state === "suspended") this._audio.resume().catch(() => {});
  }

  _teardownPeer() {
    const pc = this._pc;
    this._pc = null;
    this._dc = null;
    if (pc) {
      try {
        pc.close();
      } catch {
        /* already closed */
      }
    }
    this.video.srcObject = null;
  }

  // ------------------------------------------------------------- websocket
  /** Resolves {ok: true} once open, or {ok: false, code, reason} when it closed before opening. */
  _startWebsocket(grant) {
    this._grant = grant;
    this.sessionId = grant.session_id;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    // The token travels as a subprotocol, never in the URL (which access logs keep).
    const ws = new WebSocket(`${scheme}//${location.host}${signallingBase(grant)}/ws`, [
      WS_PROTOCOL,
      `${WS_TOKEN_PREFIX}${grant.token}`,
    ]);
    ws.binaryType = "arraybuffer";
    this._ws = ws;
    if (!this._wsPlayer) this._wsPlayer = new PcmPlayer(this._audio);
    this._botAnalyser = this._wsPlayer.analyser;
    let settle = null;
    const settled = new Promise((resolve) => {
      settle = resolve;
    });
    let opened = false;
    ws.addEventListener("open", async () => {
      if (this._ws !== ws) return;
      opened = true;
      this.channel = "websocket";
      this._emit("transport", "websocket");
      this._setState("listening");
      if (this.slow) this.setSlow(true);
      settle({ ok: true });
      if (!this._uplink) {
        try {
          await this._startMicUplink();
        } catch (err) {
          this._emit("failed", { message: `Could not stream the microphone (${err}).`, status: 0 });
        }
      }
      this._startPolling();
    });
    ws.addEventListener("message", (ev) => {
      if (typeof ev.data === "string") {
        this._onMessage(ev.data);
        return;
      }
      const bytes = new Uint8Array(ev.data);
      if (!bytes.length) return;
      if (bytes[0] === 0x41) this._wsPlayer.push(ev.data.slice(1)); // "A"
      else if (bytes[0] === 0x56) this._showFrame(ev.data.slice(1)); // "V"
    });
    ws.addEventListener("close", (ev) => {
      if (!opened) {
        if (this._ws === ws) this._ws = null;
        settle({ ok: false, code: ev.code, reason: ev.reason });
        return;
      }
      if (this._ws !== ws) return;
      if (FINAL_CLOSE_CODES.has(ev.code)) {
        this._emit("failed", { message: ev.reason || "The voice service is not available.", status: 503 });
      }
      this._lost(ev.code !== NORMAL_CLOSE && !FINAL_CLOSE_CODES.has(ev.code));
    });
    return settled;
  }

  async _startMicUplink() {
    await this._audio.audioWorklet.addModule("/static/pcm-worklet.js");
    const source = this._audio.createMediaStreamSource(this._mic);
    const node = new AudioWorkletNode(this._audio, "pcm16-downsampler", {
      processorOptions: { targetRate: 16000, chunkMs: 100 },
    });
    node.port.onmessage = (ev) => {
      if (this._wsOpen() && !this._muted) this._ws.send(ev.data);
    };
    source.connect(node);
    // The worklet outputs silence; keep it pulled by the graph.
    const sink = this._audio.createGain();
    sink.gain.value = 0;
    node.connect(sink).connect(this._audio.destination);
    this._uplink = { source, node, sink };
  }

  _showFrame(buffer) {
    const url = URL.createObjectURL(new Blob([buffer], { type: "image/jpeg" }));
    const old = this._frameUrl;
    this._frameUrl = url;
    this.image.src = url;
    if (old) setTimeout(() => URL.revokeObjectURL(old), 200);
  }

  // ------------------------------------------------------------ messaging
  _onMessage(raw) {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    if (!msg || typeof msg !== "object" || msg.type === "signalling") return;
    switch (msg.type) {
      case "session":
        if (msg.session_id) this.sessionId = msg.session_id;
        if (msg.state === "closed") this._endedByTeller = true;
        if (this.state === "connecting" || this.state === "reconnecting") this._setState("listening");
        break;
      case "transcript":
        this._setState("thinking");
        break;
      case "interrupt":
        if (this._wsPlayer) this._wsPlayer.flush();
        break;
      case "error":
        if (msg.code === "tts_down" && this.state !== "speaking") this._setState("listening");
        break;
      default:
        break;
    }
    this._emit("message", msg);
  }

  /** Send one client message; false when no live channel. */
  send(message) {
    const text = JSON.stringify(message);
    if (this._dcOpen()) {
      this._dc.send(text);
      return true;
    }
    if (this._wsOpen()) {
      this._ws.send(text);
      return true;
    }
    return false;
  }

  sendText(text) {
    const ok = this.send({ type: "text", text: text.slice(0, MAX_TEXT) });
    if (ok) this._setState("thinking");
    return ok;
  }

  askHuman() {
    return this.send({ type: "human" });
  }

  setSlow(slow) {
    this.slow = Boolean(slow);
    return this.send({ type: "speech_rate", slow: this.slow });
  }

  setMuted(muted) {
    this._muted = Boolean(muted);
    if (this._mic) for (const track of this._mic.getAudioTracks()) track.enabled = !this._muted;
  }

  get muted() {
    return this._muted;
  }

  /** 0..1 loudness of the customer's mic (for a level ring). */
  micLevel() {
    return this._micAnalyser && !this._muted ? Math.min(1, rms(this._micAnalyser, this._levelBuf) * 6) : 0;
  }

  _startPolling() {
    clearInterval(this._poll);
    this._poll = setInterval(() => this._tick(), 120);
  }

  _tick() {
    if (this._closed) return;
    const now = performance.now();
    const playing = this._wsPlayer ? this._wsPlayer.playing() : false;
    const level = this._botAnalyser ? rms(this._botAnalyser, this._levelBuf) : 0;
    if (playing || level > SPEAKING_LEVEL) {
      this._lastLoud = now;
      this._setState("speaking");
    } else if (this.state === "speaking" && now - this._lastLoud > SPEAKING_HANGOVER_MS) {
      this._setState("listening");
    }
  }

  /** The live channel is gone; ``resumable`` when the connection was lost rather than ended on purpose. */
  _lost(resumable = false) {
    if (this._closed || this._reconnecting) return;
    if (resumable && this._grant && !this._endedByTeller) this._reconnect();
    else this.stop(true);
  }

  /** Resume the same session (perhaps on another worker), bounded attempts with backoff; else end it. */
  async _reconnect() {
    this._reconnecting = true;
    const kind = this.channel;
    const token = this._grant.token;
    this._detach();
    this._setState("reconnecting");
    this._emit("reconnecting", null);
    let refusal = null;
    for (const delay of RECONNECT_DELAYS_MS) {
      await pause(delay);
      if (this._closed) return;
      let grant;
      try {
        grant = await resumeGrant(token);
      } catch (err) {
        if (FINAL_STATUSES.has(err.status)) {
          refusal = err;
          break;
        }
        continue; // the service is briefly away: try again
      }
      if (this._closed) return;
      const outcome = await this._attach(kind, grant);
      if (this._closed) return;
      if (outcome.live) {
        this._reconnecting = false;
        this._emit("reconnected", null);
        return;
      }
      if (outcome.refusal) {
        refusal = outcome.refusal;
        break;
      }
    }
    this._reconnecting = false;
    if (this._closed) return;
    const message = refusal ? refusal.message : "The connection to the teller was lost.";
    this._emit("failed", { message, status: refusal ? refusal.status : 0 });
    this.stop(true);
  }

  /** One reconnection attempt on the kind of channel that was lost. */
  async _attach(kind, grant) {
    if (kind === "webrtc") {
      try {
        if (await this._startWebRTC(grant)) return { live: true };
      } catch (err) {
        if (FINAL_STATUSES.has(err.status)) return { refusal: err };
      }
      this._teardownPeer();
      return { live: false };
    }
    const opened = await this._startWebsocket(grant);
    if (opened.ok) return { live: true };
    if (FINAL_CLOSE_CODES.has(opened.code)) {
      return { refusal: new TellerError(opened.reason || "The conversation has ended.", 410) };
    }
    return { live: false };
  }

  /** Drop the dead channel; the microphone, audio and player stay for the next one. */
  _detach() {
    clearInterval(this._poll);
    clearTimeout(this._disconnectTimer);
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      try {
        ws.close(NORMAL_CLOSE, "reconnecting");
      } catch {
        /* closed */
      }
    }
    this._teardownPeer();
    if (this._wsPlayer) this._wsPlayer.flush();
    this._botAnalyser = null;
  }

  /** Hang up. */
  stop(notify = true) {
    if (this._closed) return;
    this._closed = true;
    clearInterval(this._poll);
    clearTimeout(this._disconnectTimer);
    if (this._ws) {
      try {
        this._ws.close(1000, "customer hung up");
      } catch {
        /* closing */
      }
      this._ws = null;
    }
    this._teardownPeer();
    if (this._uplink) {
      this._uplink.source.disconnect();
      this._uplink.node.disconnect();
      this._uplink = null;
    }
    if (this._mic) for (const track of this._mic.getTracks()) track.stop();
    this._mic = null;
    if (this._wsPlayer) this._wsPlayer.flush();
    this._wsPlayer = null;
    if (this._audio) this._audio.close().catch(() => {});
    this._audio = null;
    this._botAnalyser = null;
    this._micAnalyser = null;
    if (this._frameUrl) {
      URL.revokeObjectURL(this._frameUrl);
      this._frameUrl = null;
    }
    this.image.removeAttribute("src");
    this._setState("ended");
    if (notify) this._emit("closed", null);
  }
}

/** Plays tagged PCM16 mono 24 kHz chunks back to back with a small jitter buffer. */
class PcmPlayer {
  constructor(ctx, rate = 24000, jitterS = 0.08) {
    this.ctx = ctx;
    this.rate = rate;
    this.jitter = jitterS;
    this.next = 0;
    this.sources = new Set();
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 1024;
    this.gain = ctx.createGain();
    this.gain.connect(this.analyser);
    this.analyser.connect(ctx.destination);
  }

  push(buffer) {
    const samples = new Int16Array(buffer, 0, Math.floor(buffer.byteLength / 2));
    if (!samples.length) return;
    const audio = this.ctx.createBuffer(1, samples.length, this.rate);
    const data = audio.getChannelData(0);
    for (let i = 0; i < samples.length; i += 1) data[i] = samples[i] / 32768;
    const src = this.ctx.createBufferSource();
    src.buffer = audio;
    src.connect(this.gain);
    const now = this.ctx.currentTime;
    if (this.next < now + 0.01) this.next = now + this.jitter; // underrun: rebuild the cushion
    src.start(this.next);
    this.next += audio.duration;
    this.sources.add(src);
    src.addEventListener("ended", () => this.sources.delete(src));
  }

  playing() {
    return this.ctx.state === "running" && this.next > this.ctx.currentTime + 0.02;
  }

  flush() {
    for (const src of this.sources) {
      try {
        src.stop();
      } catch {
        /* not started */
      }
    }
    this.sources.clear();
    this.next = 0;
  }
}

/** Announce a short message to screen readers through an aria-live region. */
export function announce(region, text) {
  region.textContent = "";
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/** Persisted on/off preference with a toggle button (aria-pressed). */
export function bindToggle(button, key, onChange) {
  const stored = localStorage.getItem(key) === "1";
  const apply = (on) => {
    button.setAttribute("aria-pressed", on ? "true" : "false");
    onChange(on);
  };
  apply(stored);
  button.addEventListener("click", () => {
    const on = button.getAttribute("aria-pressed") !== "true";
    localStorage.setItem(key, on ? "1" : "0");
    apply(on);
  });
  return () => button.getAttribute("aria-pressed") === "true";
}

export const STATE_LABELS = {
  idle: "Ready",
  connecting: "Connecting…",
  listening: "Listening",
  thinking: "Thinking…",
  speaking: "Speaking",
  reconnecting: "Connection lost — reconnecting…",
  ended: "Call ended",
};
