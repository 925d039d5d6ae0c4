// pushpull WebSocket client for browsers: protocol "pushpull.v1" (see the
// Go package github.com/pushpull/pushpull/ws). No dependencies.
//
//   import { Client } from "/pushpull-ws.js";
//   const c = new Client("wss://example.com/ws");
//   const sub = await c.subscribe("chat", { after: "", onMessage: (m) => … });
//   const { id } = await c.publish("chat", "hello");
//
// The client reconnects with exponential backoff and jitter and subscribes
// every topic again after the last message it delivered: no gap, no
// duplicate. Publishes not yet sent are sent after a reconnect; a publish
// sent on a connection that broke before its ack is rejected with an error
// whose code is "no_ack" (it may or may not be stored).
//
// When the server can no longer serve a subscription from its cursor (the
// messages after it expired, or the server's storage was reset, e.g. a
// restart with a fresh in-memory bus), it sends a reset carrying the
// topic's top. The client hands the application a ServerError with code
// "cursor_expired" and fields top (the id it continues after) and cursor
// (the one it could not resume from) through the subscription's onReset
// (or console.warn without one), then carries on after the top, like a
// browser EventSource after the SSE reset event: reload the state in
// onReset. Only the subscribe call itself is rejected with that error when
// its own cursor cannot be served.
//
// Credentials: a browser WebSocket cannot send headers, so the token goes
// in a query parameter (the server's auth.Bearer needs Query set to the
// same name) or in a cookie the page already has. With the token option
// the client asks for a token before each connection; when the server
// closes it with code 4001 (the token expired) or the handshake fails, the
// next call gets { expired: true }: return a fresh token then. The client
// reconnects and resumes every subscription from its cursor.
//
//   const c = new Client("wss://example.com/ws", {
//     token: async ({ expired }) => (expired || !tok ? (tok = await fetchToken()) : tok),
//     tokenParam: "access_token",  // the default
//   });

export const SUBPROTOCOL = "pushpull.v1";

// parseID parses a message ID; "0-0" (Origin, the top of a topic that has no
// message) has the empty epoch, which the first message of any epoch follows.
function parseID(id) {
  const i = typeof id === "string" ? id.lastIndexOf("-") : -1;
  if (i <= 0 || !/^[0-9]+$/.test(id.slice(i + 1))) return null;
  const epoch = id.slice(0, i);
  return { epoch: epoch === "0" ? "" : epoch, offset: BigInt(id.slice(i + 1)) };
}

function follows(p, prev) {
  return p.offset === prev.offset + 1n && (p.epoch === prev.epoch || prev.epoch === "");
}

function encodeData(data) {
  if (data === undefined || data === null) return {};
  if (typeof data === "string") return data === "" ? {} : { data };
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return bytes.length ? { data64: btoa(bin) } : {};
}

function decodeData(f) {
  if (f.data64 !== undefined) {
    const bin = atob(f.data64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  return f.data === undefined ? "" : f.data;
}

export class ServerError extends Error {
  constructor(code, message) {
    super(`pushpull: ${code}: ${message}`);
    this.code = code;
  }
}

export class Client {
  constructor(url, opts = {}) {
    this.url = url;
    this.minBackoff = opts.minBackoff ?? 100;
    this.maxBackoff = opts.maxBackoff ?? 5000;
    this.onstatechange = opts.onstatechange ?? null;
    this.token = opts.token ?? null; // async ({ expired }) => string
    this.tokenParam = opts.tokenParam ?? "access_token";
    this.stale = false; // the last token was refused or expired
    this.subs = new Map(); // topic → subscription
    this.ops = new Map(); // ref → pending request
    this.seq = 0;
    this.gen = 0;
    this.attempt = 0;
    this.ws = null;
    this.closed = false;
    this.connected = false;
    this._connect();
  }

  async _connect() {
    if (this.closed) return;
    let url = this.url;
    if (this.token) {
      try {
        const tok = await this.token({ expired: this.stale });
        const u = new URL(url, typeof location === "object" ? location.href : undefined);
        u.searchParams.set(this.tokenParam, tok);
        url = u.href;
      } catch (e) {
        console.warn("pushpull: token:", e);
        this._retry();
        return;
      }
      this.stale = false;
      if (this.closed) return;
    }
    const ws = new WebSocket(url, [SUBPROTOCOL]);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      if (ws.protocol !== SUBPROTOCOL) {
        ws.close(1002, "subprotocol " + SUBPROTOCOL + " required");
        return;
      }
      this.attempt = 0;
      this.gen++;
      this.connected = true;
      for (const s of this.subs.values()) {
        const f = { op: "subscribe", topic: s.topic };
        if (s.cursor) f.after = s.cursor;
        if (s.pending) f.ref = s.ref;
        ws.send(JSON.stringify(f));
      }
      const unsent = [...this.ops.values()].filter((o) => !o.sub && !o.sentGen);
      unsent.sort((a, b) => a.seq - b.seq);
      for (const o of unsent) {
        o.sentGen = this.gen;
        ws.send(o.frame);
      }
      this.onstatechange?.("open");
    };
    ws.onmessage = (ev) => {
      // A frame holds one envelope or a batch of them, one per line.
      for (const text of typeof ev.data === "string" ? ev.data.split("\n") : [ev.data]) {
        if (ws.readyState !== WebSocket.OPEN) return; // closed by an earlier one
        this._dispatch(ws, text);
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      // 4001: the token expired; a failed handshake may be a refused one.
      if (this.token && (ev.code === 4001 || !opened)) this.stale = true;
      this.ws = null;
      this.connected = false;
      for (const [ref, o] of this.ops) {
        if (!o.sub && o.sentGen) {
          this.ops.delete(ref);
          const err = new Error("pushpull: connection lost before the ack; the message may or may not be stored");
          err.code = "no_ack";
          o.reject(err);
        }
      }
      this.onstatechange?.("closed");
      if (ev.code === 4001) this.attempt = 0; // expected: come back at once
      this._retry();
    };
  }

  _retry() {
    if (this.closed) return;
    const base = Math.min(this.maxBackoff, this.minBackoff * 2 ** this.attempt++);
    setTimeout(() => this._connect(), base * (0.5 + Math.random()));
  }

  _dispatch(ws, text) {
    let f;
    try {
      f = JSON.parse(text);
    } catch {
      ws.close(1002, "malformed frame");
      return;
    }
    const o = f.ref ? this.ops.get(f.ref) : undefined;
    if (o) this.ops.delete(f.ref);
    const s = f.topic !== undefined ? this.subs.get(f.topic) : undefined;
    switch (f.op) {
      case "message": {
        // The server acks a subscribe before its messages: one that comes
        // first is for an earlier subscription of the topic, since closed.
        if (!s || s.pending) return;
        const pos = parseID(f.id);
        if (!pos) return ws.close(1002, "bad id");
        if (s.last) {
          if (pos.epoch === s.last.epoch && pos.offset <= s.last.offset) return; // duplicate
          if (!follows(pos, s.last)) {
            ws.close(1002, "gap"); // reconnect and resume from the cursor
            return;
          }
        }
        s.cursor = f.id;
        s.last = pos;
        s.onMessage?.({ topic: f.topic, id: f.id, type: f.type ?? "", data: decodeData(f), meta: f.meta ?? {}, time: f.time });
        return;
      }
      case "ack":
        // For a new subscription ("" or "latest") the ack holds the cursor
        // it starts after: a reconnect before any message resumes there.
        if (s && (!s.cursor || s.cursor === "latest") && (!o || o.sub === s)) {
          s.cursor = f.id ?? "";
          s.last = parseID(s.cursor);
        }
        if (o?.sub) o.sub.pending = false;
        o?.resolve(f);
        return;
      case "error":
      case "reset": {
        const err = f.op === "reset"
          ? Object.assign(new ServerError("cursor_expired", f.message ?? "cursor expired"), { top: f.top })
          : new ServerError(f.code, f.message);
        if (o) {
          if (o.sub) this.subs.delete(o.sub.topic);
          o.reject(err);
        } else if (s) {
          if (f.op === "reset" && this._reset(ws, s, f.top, err)) return;
          this.subs.delete(s.topic);
          s.onError?.(err);
        }
        return;
      }
    }
  }

  // _reset moves the accepted subscription s to the top given by a reset,
  // subscribes again after it, and reports err to the application. It
  // reports false when top is no id to continue after (the subscription
  // then ends with err).
  _reset(ws, s, top, err) {
    const pos = parseID(top);
    if (!pos || top === s.cursor) return false; // continuing could only loop
    err.cursor = s.cursor;
    s.cursor = top;
    s.last = pos;
    if (this.ws === ws && this.connected) ws.send(JSON.stringify({ op: "subscribe", topic: s.topic, after: top }));
    if (s.onReset) s.onReset(err);
    else console.warn(`pushpull: ${s.topic}: reset, continuing after ${top}:`, err.message);
    return true;
  }

  _request(frame, sub) {
    if (this.closed) return Promise.reject(new Error("pushpull: client closed"));
    const ref = (++this.seq).toString(36);
    frame.ref = ref;
    return new Promise((resolve, reject) => {
      const o = { seq: this.seq, frame: JSON.stringify(frame), sub, resolve, reject, sentGen: 0 };
      if (sub) {
        sub.ref = ref;
        sub.pending = true;
      }
      this.ops.set(ref, o);
      if (this.connected) {
        o.sentGen = this.gen;
        this.ws.send(o.frame);
      }
    });
  }

  // subscribe(topic, {after, onMessage, onReset, onError}) resolves once the
  // server accepted. after: "" (default) for new messages, "latest" for the
  // newest message then what follows, "0" for the whole history, or a
  // message id; it is rejected (code "cursor_expired", with
  // top) when that cursor cannot be served. Later, onReset(err) reports a
  // reset (err.top, err.cursor) after which the subscription continues
  // after err.top; onError(err) reports an error that ended the
  // subscription.
  async subscribe(topic, { after = "", onMessage, onReset, onError } = {}) {
    if (this.subs.has(topic)) throw new Error(`pushpull: already subscribed to ${topic}`);
    const s = { topic, cursor: after, last: parseID(after), onMessage, onReset, onError, pending: true };
    this.subs.set(topic, s);
    const frame = { op: "subscribe", topic };
    if (after) frame.after = after;
    await this._request(frame, s);
    return {
      topic,
      get cursor() { return s.cursor; },
      close: () => {
        if (this.subs.get(topic) !== s) return;
        this.subs.delete(topic);
        if (this.connected) this.ws.send(JSON.stringify({ op: "unsubscribe", topic }));
      },
    };
  }

  // publish(topic, data, {type, meta}) resolves with {id, time} of the
  // stored message. data: a string, Uint8Array or ArrayBuffer.
  async publish(topic, data, { type, meta } = {}) {
    const frame = { op: "publish", topic, ...encodeData(data) };
    if (type) frame.type = type;
    if (meta) frame.meta = meta;
    const ack = await this._request(frame);
    return { id: ack.id, time: ack.time };
  }

  // reconnect drops the connection now; the client comes back and resumes.
  reconnect() {
    this.ws?.close(4001, "reconnect");
  }

  close() {
    this.closed = true;
    this.ws?.close(1000, "");
    for (const o of this.ops.values()) o.reject(new Error("pushpull: client closed"));
    this.ops.clear();
  }
}
