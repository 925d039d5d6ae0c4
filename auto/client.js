// pushpull browser client for auto.Handler (Go package
// github.com/pushpull/pushpull/auto). No dependencies, no build step.
//
//   import { Client } from "/rt/client.js";
//   const c = new Client("/rt");
//   const sub = await c.subscribe("news", {
//     after: "",                              // "" new only, "0" all retained, "latest", or an id
//     onMessage: (m) => show(m.id, m.data),   // once each, in order
//     onReset: (r) => reload(r.top),          // messages were lost; it continues after r.top
//     onTransport: (name) => {},              // "websocket", "sse", "longpoll" or "poll"
//     onError: (e) => {},                     // ended for good, e.g. 403 after a revocation
//   });
//   const { id } = await c.publish("news", "hello", { type: "note" });
//   sub.close(); c.close();
//
// A subscription uses the first transport of the server's list that opens
// within connectTimeout, falls back to the next when one fails or stops
// delivering (it asks the server for the topic's top after probeInterval
// without a message, and gives a transport that is behind probeTimeout to
// deliver), and tries the better ones again after upgradeInterval (doubling
// after each failure, at most ten times as long). Every switch resumes from
// the id of the last message delivered; ids are checked to follow each
// other, so nothing is skipped or repeated.
//
// Credentials: with the token option the client asks for a bearer token
// before every request and sends it in the Authorization header (fetch:
// negotiate, publish, SSE, long polling, polling) or, for WebSocket, whose
// browser API cannot send headers, in the query parameter tokenParam (the
// server's auth.Bearer needs Query set to the same name). When the server
// ends a connection because the token expired (WebSocket close code 4001,
// an SSE stream or long poll ended, a 401), the next call gets
// { expired: true }: return a fresh token then, and the subscription goes
// on from its cursor on the same transport. A request refused with 401
// again after a fresh token ends the subscription (onError).
//
//   let tok;
//   const c = new Client("/rt", {
//     token: async ({ expired }) => (expired || !tok ? (tok = await (await fetch("/token")).text()) : tok),
//   });

/**
 * @typedef {Object} Message
 * @property {string} topic
 * @property {string} id      the message ID, a cursor
 * @property {string} type    "" when none
 * @property {string|Uint8Array} data  a string when the payload is UTF-8 text
 * @property {string} [time]  RFC 3339, when the transport carries it (not SSE)
 * @property {Object<string,string>} [meta] when the transport carries it (not SSE)
 */
/**
 * @typedef {Object} Reset
 * @property {string} topic
 * @property {string} cursor  the cursor that could not be served
 * @property {string} top     the id the subscription continues after
 */
/**
 * @typedef {Object} SubscribeOptions
 * @property {string} [after]  "" (default): new messages only; "0": all retained; or a message id
 * @property {(m: Message) => void} [onMessage]
 * @property {(r: Reset) => void} [onReset]
 * @property {(transport: string) => void} [onTransport]
 * @property {(err: Error) => void} [onError]  the subscription ended for good (e.g. 403 after a revocation)
 */
/**
 * @typedef {Object} ClientOptions
 * @property {string[]} [transports]  order of preference; default: the server's
 * @property {number} [connectTimeout=5000]   ms a transport has to open
 * @property {number} [probeInterval=15000]   ms without a message before the top is checked
 * @property {number} [probeTimeout=5000]     ms a transport behind the top has to deliver
 * @property {number} [upgradeInterval=30000] ms before better transports are tried again
 * @property {number} [pollInterval=2000]     ms between polls (the server's advice wins when longer)
 * @property {Object<string,string>} [headers] extra headers of fetch requests (not WebSocket)
 * @property {(o: {expired: boolean}) => (string|Promise<string>)} [token] the bearer token of each request
 * @property {string} [tokenParam="access_token"] the query parameter of the WebSocket's token
 */

/** An HTTP refusal of negotiate, publish or a transport. */
export class HTTPError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(`pushpull: ${status}${code ? " " + code : ""}: ${message}`);
    this.status = status;
    this.code = code;
    /** @type {string|undefined} the topic's top, on 410 cursor_expired */
    this.top = undefined;
    /** @type {boolean} refused by one transport only (a WebSocket error frame) */
    this.transport = false;
  }
}

const parseID = (id) => {
  const i = typeof id === "string" ? id.lastIndexOf("-") : -1;
  if (i <= 0 || !/^[0-9]+$/.test(id.slice(i + 1))) return null;
  const e = id.slice(0, i);
  return { e: e === "0" ? "" : e, o: BigInt(id.slice(i + 1)) };
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const utf8 = new TextDecoder();
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const b64str = (s) => utf8.decode(b64(s));

/** Decodes a message of the poll and longpoll JSON schema. */
function fromPoll(topic, w) {
  const enc = w.metaEncoding === "base64";
  const meta = w.meta && Object.fromEntries(Object.entries(w.meta).map(([k, v]) => (enc ? [b64str(k), b64str(v)] : [k, v])));
  return {
    topic, id: w.id, type: w.type ? (enc ? b64str(w.type) : w.type) : "",
    data: w.encoding === "base64" ? b64(w.data) : w.data ?? "", time: w.time, meta,
  };
}

async function failure(res) {
  let b = {};
  try { b = await res.json(); } catch {}
  const e = new HTTPError(res.status, b.error || "", b.message || res.statusText);
  e.top = b.top;
  return e;
}

/** A fatal error ends the subscription instead of moving to another transport. */
const isFatal = (e) => e instanceof HTTPError && (e.status === 401 || e.status === 403 || (e.status === 400 && /topic|cursor/.test(e.code))) && !e.transport;

export class Client {
  /** @param {string} url the Handler's prefix, e.g. "/rt" or "https://example.com/rt" @param {ClientOptions} [opts] */
  constructor(url, opts = {}) {
    this.base = new URL(url.replace(/\/$/, "") + "/", typeof location === "object" ? location.href : undefined);
    this.opts = { connectTimeout: 5000, probeInterval: 15000, probeTimeout: 5000, upgradeInterval: 30000, pollInterval: 2000, ...opts };
    /** @type {Set<Subscription>} */
    this.subs = new Set();
  }

  _url(route, q) {
    const u = new URL(route, this.base);
    for (const [k, v] of Object.entries(q || {})) u.searchParams.set(k, v);
    return u;
  }

  /** The token to send now; a fresh one after an expiry or a refusal. */
  async _token() {
    const expired = this.stale;
    this.stale = false;
    return this.opts.token({ expired });
  }

  async _fetch(url, init = {}) {
    for (let again = !!this.opts.token; ; again = false) {
      const headers = { ...this.opts.headers, ...init.headers };
      if (this.opts.token) headers.Authorization = "Bearer " + (await this._token());
      const res = await fetch(url, { cache: "no-store", ...init, headers });
      if (res.status === 401 && again) {
        // Expired or refused: once more with a fresh token.
        this.stale = true;
        res.body?.cancel().catch(() => {});
        continue;
      }
      if (!res.ok) throw await failure(res);
      return res;
    }
  }

  /** @param {string} topic @param {AbortSignal} [signal] @param {string} [after] */
  async _negotiate(topic, signal, after) {
    const q = after === "latest" ? { topic, after } : { topic };
    const n = await (await this._fetch(this._url("negotiate", q), { signal })).json();
    const offered = new Map(n.transports.map((t) => [t.name, new URL(t.url, this._url("negotiate"))]));
    const order = this.opts.transports || n.transports.map((t) => t.name);
    const ts = order.filter((t) => offered.has(t) && OPEN[t]).map((name) => ({ name, url: offered.get(name) }));
    if (!ts.length) throw new Error("pushpull: the server offers none of " + order);
    return { transports: ts, top: n.top, latest: n.latest };
  }

  /**
   * Subscribes to topic; resolves once a transport is open.
   * @param {string} topic @param {SubscribeOptions} [o] @returns {Promise<Subscription>}
   */
  async subscribe(topic, o = {}) {
    const s = new Subscription(this, topic, o);
    this.subs.add(s);
    try {
      await s._start();
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }

  /**
   * Publishes over HTTP POST. data: a string or bytes.
   * @param {string} topic @param {string|Uint8Array|ArrayBuffer} data
   * @param {{type?: string, meta?: Object<string,string>}} [o]
   * @returns {Promise<{id: string, time?: string}>}
   */
  async publish(topic, data, o = {}) {
    const body = { type: o.type, meta: o.meta };
    if (typeof data === "string") body.data = data;
    else if (data != null) {
      let bin = "";
      for (const b of new Uint8Array(data)) bin += String.fromCharCode(b);
      body.data64 = btoa(bin);
    }
    const res = await this._fetch(this._url("publish", { topic }), {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    return res.json();
  }

  /** Closes every subscription. */
  close() {
    for (const s of this.subs) s.close();
  }
}

export class Subscription {
  constructor(c, topic, o) {
    this.c = c;
    this.topic = topic;
    this.o = o;
    /** @type {string} the cursor: the last id delivered */
    this.cursor = o.after || "";
    this.last = this.cursor && this.cursor !== "0" ? parseID(this.cursor) : null;
    /** @type {string} the transport in use, "" while none */
    this.transport = "";
    this.switches = 0;
    this.closed = false;
    this.fails = 0; // failed upgrades and stalls
    this.act = null; // the active transport
    this.cand = null; // a better one being tried
    this.timers = {};
  }

  _timer(name, ms, fn) {
    clearTimeout(this.timers[name]);
    this.timers[name] = ms == null ? undefined : setTimeout(fn, ms);
  }

  async _start() {
    const n = await this.c._negotiate(this.topic, undefined, this.cursor);
    this.transports = n.transports;
    if (this.cursor === "") {
      this.cursor = n.top;
      this.last = parseID(n.top);
    } else if (this.cursor === "latest" && n.latest) {
      // Every transport starts after the same newest message.
      this.cursor = n.latest;
      this.last = parseID(n.latest);
    }
    await this._openFrom(0, true);
  }

  /** Accepts a message id: true for the next one, false for a duplicate; throws on a gap. */
  _accept(id) {
    const p = parseID(id);
    if (!p) throw new Error("pushpull: bad id " + id);
    if (this.last) {
      if (p.e === this.last.e && p.o <= this.last.o) return false;
      if (!(p.o === this.last.o + 1n && (p.e === this.last.e || this.last.e === ""))) throw new Error(`pushpull: gap after ${this.cursor}: ${id}`);
    }
    this.last = p;
    this.cursor = id;
    return true;
  }

  // sink callbacks of the transports
  _message(t, m) {
    if (this.closed || (t !== this.act && t !== this.cand)) return;
    let ok;
    try {
      ok = this._accept(m.id);
    } catch (e) {
      return this._ended(t, e);
    }
    if (t === this.act) this.progress = true;
    if (ok && this.o.onMessage) this.o.onMessage(m);
    if (t === this.cand) this._promote();
    else if (!this.probing) this._timer("probe", this.c.opts.probeInterval, () => this._probe());
  }

  _reset(t, top) {
    if (!this.closed && t === this.act) this._doReset(t.idx, top);
  }

  /** Reports a cursor the server cannot serve and goes on after top over transport idx. */
  _doReset(idx, top) {
    const r = { topic: this.topic, cursor: this.cursor, top };
    this.cursor = top;
    this.last = parseID(top);
    (this.o.onReset || ((x) => console.warn("pushpull: reset", x)))(r);
    this._reopen(idx);
  }

  _ended(t, err) {
    if (this.closed) return;
    t.close();
    if (t === this.cand) return this._candFailed(err);
    if (t !== this.act) return;
    this.act = null;
    if (err && err.top && err.status === 410) return this._doReset(t.idx, err.top);
    this._reopen(err && err.stalled ? t.idx + 1 : t.idx);
  }

  _reopen(idx) {
    if (this.act) this.act.close();
    this.act = null;
    this._openFrom(idx).catch((e) => this._fail(e));
  }

  _fail(e) {
    if (this.closed) return;
    this.close();
    (this.o.onError || ((x) => console.warn("pushpull: subscription ended", x)))(e);
  }

  /** Opens transport i (within connectTimeout) after the current cursor. */
  _open(i) {
    const t = this.transports[i];
    const self = this;
    const sink = {
      message: (m) => self._message(tr, m),
      reset: (top) => self._reset(tr, top),
      end: (e) => self._ended(tr, e),
    };
    const tr = OPEN[t.name](t.url, this.topic, this.cursor, sink, this.c);
    tr.idx = i;
    tr.name = t.name;
    return new Promise((resolve, reject) => {
      const to = setTimeout(() => {
        tr.close();
        reject(new Error(`pushpull: ${t.name} did not open within ${this.c.opts.connectTimeout} ms`));
      }, this.c.opts.connectTimeout);
      tr.opened.then(() => (clearTimeout(to), resolve(tr)), (e) => (clearTimeout(to), tr.close(), reject(e)));
    });
  }

  async _openFrom(i, first) {
    let backoff = 500;
    for (;;) {
      for (let j = i; j < this.transports.length && !this.closed; j++) {
        try {
          const t = await this._open(j);
          if (this.closed) return t.close();
          return this._use(t);
        } catch (e) {
          if (e.status === 410 && e.top) {
            // The cursor cannot be served: report and go on after the top.
            return this._doReset(j, e.top);
          }
          if (isFatal(e)) throw e;
        }
      }
      if (this.closed) return;
      await sleep(backoff + Math.random() * backoff);
      backoff = Math.min(backoff * 2, 30000);
      i = 0;
      try {
        this.transports = (await this.c._negotiate(this.topic)).transports;
      } catch (e) {
        if (isFatal(e) || first) throw e;
      }
    }
  }

  _use(t) {
    const from = this.transport;
    this.act = t;
    this.transport = t.name;
    if (from && from !== t.name) this.switches++;
    if (from !== t.name && this.o.onTransport) this.o.onTransport(t.name);
    this.probing = false;
    this._check(); // a transport opened behind the top proves itself at once
    this._timer("upgrade", t.idx > 0 ? this._upgradeWait() : null, () => this._upgrade());
  }

  _upgradeWait() {
    const d = this.c.opts.upgradeInterval;
    return Math.min(d * 2 ** this.fails, d * 10);
  }

  async _pending() {
    try {
      const n = await this.c._negotiate(this.topic, AbortSignal.timeout(this.c.opts.probeTimeout));
      const top = parseID(n.top);
      if (!top) return false;
      if (!this.last) return top.o > 0n;
      return top.e !== this.last.e || top.o > this.last.o;
    } catch {
      return false;
    }
  }

  async _check() {
    const t = this.act;
    this.progress = false;
    this.probing = await this._pending();
    if (t !== this.act || this.closed) return;
    if (this.probing) this._timer("probe", this.c.opts.probeTimeout, () => this._probe());
    else this._timer("probe", this.c.opts.probeInterval, () => this._probe());
  }

  _probe() {
    const t = this.act;
    if (!t || this.closed) return;
    if (this.probing && !this.progress) {
      this.fails++;
      return this._ended(t, Object.assign(new Error(`pushpull: ${t.name} connected but does not deliver`), { stalled: true }));
    }
    if (this.probing && t.idx === 0) this.fails = 0;
    this._check();
  }

  async _upgrade() {
    const act = this.act;
    if (!act || this.closed) return;
    for (let j = 0; j < act.idx; j++) {
      let t;
      try {
        t = await this._open(j);
      } catch {
        continue;
      }
      if (this.closed || this.act !== act) return t.close();
      this.cand = t;
      if (!(await this._pending())) return this._promote();
      if (this.cand === t) this._timer("proving", this.c.opts.probeTimeout, () => this._candFailed());
      return;
    }
    this._candFailed();
  }

  /** @param {unknown} [_why] */
  _candFailed(_why) {
    if (this.cand) this.cand.close();
    this.cand = null;
    this.fails++;
    if (this.act && this.act.idx > 0) this._timer("upgrade", this._upgradeWait(), () => this._upgrade());
  }

  _promote() {
    const t = this.cand;
    if (!t) return;
    this.cand = null;
    this._timer("proving");
    if (this.act) this.act.close();
    this._use(t);
  }

  /** Ends the subscription. */
  close() {
    if (this.closed) return;
    this.closed = true;
    for (const k in this.timers) clearTimeout(this.timers[k]);
    if (this.act) this.act.close();
    if (this.cand) this.cand.close();
    this.act = this.cand = null;
    this.transport = "";
    this.c.subs.delete(this);
  }
}

// Transports: open(url, topic, cursor, sink, client) returns
// { opened: Promise, close() }; sink gets message(m), reset(top), end(err).
const OPEN = {
  websocket(url, topic, cursor, sink, c) {
    let ws, done = false, ok, ko;
    const opened = new Promise((a, b) => ((ok = a), (ko = b)));
    const end = (e) => {
      if (done) return;
      done = true;
      ko(e);
      sink.end(e);
    };
    const dial = async () => {
      const u = new URL(url);
      u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
      if (c.opts.token) u.searchParams.set(c.opts.tokenParam || "access_token", await c._token());
      if (!done) ws = wire(new WebSocket(u, "pushpull.v1"));
    };
    const wire = (ws) => {
      ws.onopen = () => ws.send(JSON.stringify({ op: "subscribe", topic, after: cursor, ref: "s" }));
      // A frame holds one envelope or a batch of them, one per line. They
      // are handled in order; after the subscribe's ack the rest waits for
      // a task of its own, as if it had come in frames of its own, so the
      // subscription takes this transport (a promise away) before its
      // messages arrive.
      let queue = [], at = 0, waiting = false;
      const drain = () => {
        waiting = false;
        while (at < queue.length && !done) {
          if (onEnvelope(queue[at++]) && at < queue.length) {
            waiting = true;
            setTimeout(drain, 0);
            return;
          }
        }
        queue = [];
        at = 0;
      };
      ws.onmessage = (ev) => {
        if (typeof ev.data === "string") queue.push(...ev.data.split("\n"));
        else queue.push(ev.data);
        if (!waiting) drain();
      };
      // onEnvelope handles one envelope and reports whether it was the
      // subscribe's ack.
      const onEnvelope = (text) => {
        let f;
        try {
          f = JSON.parse(text);
        } catch {
          return false;
        }
        if (f.op === "message" && f.topic === topic) {
          sink.message({ topic, id: f.id, type: f.type || "", data: f.data64 !== undefined ? b64(f.data64) : f.data ?? "", time: f.time, meta: f.meta });
        } else if (f.op === "ack" && f.ref === "s") {
          ok();
          return true;
        } else if (f.op === "reset") {
          const e = new HTTPError(410, "cursor_expired", f.message || "cursor expired");
          e.top = f.top;
          if (f.ref === "s") ko(e);
          else sink.reset(f.top);
        } else if (f.op === "error" && (f.ref === "s" || !f.ref)) {
          const e = new HTTPError(f.code === "forbidden" ? 403 : 400, f.code, f.message);
          e.transport = true;
          end(e);
        }
        return false;
      };
      let up = false;
      ws.addEventListener("open", () => (up = true));
      ws.onerror = () => end(new Error("pushpull: websocket closed"));
      ws.onclose = (ev) => {
        // 4001: the token expired; a refused handshake looks like any failed one.
        if (c.opts.token && (ev.code === 4001 || !up)) c.stale = true;
        end(new Error("pushpull: websocket closed"));
      };
      return ws;
    };
    dial().catch(end);
    return { opened, close: () => ((done = true), ko(new Error("closed")), ws && ws.close()) };
  },

  sse(url, topic, cursor, sink, c) {
    const ac = new AbortController();
    let ok, ko;
    const opened = new Promise((a, b) => ((ok = a), (ko = b)));
    const run = async () => {
      let id = cursor, backoff = 500;
      for (let first = true; !ac.signal.aborted; first = false) {
        try {
          const res = await c._fetch(c._url(url, { topic }), { signal: ac.signal, headers: { Accept: "text/event-stream", ...(id ? { "Last-Event-ID": id } : {}) } });
          if (first) ok();
          backoff = 500;
          const rd = res.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = "", ev = { data: [], type: "" };
          for (;;) {
            const { value, done } = await rd.read();
            if (done) break;
            buf += value;
            let i;
            while ((i = buf.search(/\r\n|\r|\n/)) >= 0) {
              const line = buf.slice(0, i);
              buf = buf.slice(i + (buf.startsWith("\r\n", i) ? 2 : 1));
              if (line === "") {
                if (ev.data.length) {
                  const data = ev.data.join("\n");
                  if (ev.type === "reset") sink.reset(JSON.parse(data).top);
                  else sink.message({ topic, id, type: ev.type, data });
                }
                ev = { data: [], type: "" };
                continue;
              }
              const k = line.indexOf(":");
              if (k === 0) continue;
              const f = k < 0 ? line : line.slice(0, k);
              let v = k < 0 ? "" : line.slice(k + 1);
              if (v[0] === " ") v = v.slice(1);
              if (f === "data") ev.data.push(v);
              else if (f === "event") ev.type = v;
              else if (f === "id" && !v.includes("\0")) id = v;
            }
          }
        } catch (e) {
          if (ac.signal.aborted) return;
          if (first) return ko(e);
          if (e instanceof HTTPError && e.status !== 503) return sink.end(e);
        }
        await sleep(backoff + Math.random() * backoff);
        backoff = Math.min(backoff * 2, 10000);
      }
    };
    run();
    return { opened, close: () => (ko(new Error("closed")), ac.abort()) };
  },

  longpoll: (url, topic, cursor, sink, c) => polling(url, topic, cursor, sink, c, true),
  poll: (url, topic, cursor, sink, c) => polling(url, topic, cursor, sink, c, false),
};

function polling(url, topic, cursor, sink, c, held) {
  const ac = new AbortController();
  let ok, ko;
  const opened = new Promise((a, b) => ((ok = a), (ko = b)));
  const run = async () => {
    let after = cursor, backoff = 500;
    for (let first = true; !ac.signal.aborted; first = false) {
      let wait = held ? 0 : c.opts.pollInterval;
      const t0 = performance.now();
      try {
        const q = { topic, after };
        if (held) q.timeout = first ? "0" : "25";
        const res = await c._fetch(c._url(url, q), { signal: ac.signal });
        const adv = parseFloat(res.headers.get("X-Poll-Interval"));
        if (!held && adv * 1000 > wait) wait = adv * 1000;
        const b = await res.json();
        if (first) ok();
        backoff = 500;
        for (const m of b.messages || []) sink.message(fromPoll(topic, m));
        if (ac.signal.aborted) return;
        after = b.cursor || after;
        // A server or proxy that does not hold requests must not make it spin.
        if (held && !first && !(b.messages || []).length && performance.now() - t0 < 100) wait = 500;
      } catch (e) {
        if (ac.signal.aborted) return;
        if (first) return ko(e);
        if (e instanceof HTTPError && (e.status === 410 || (e.status < 500 && e.status !== 429 && e.status !== 408))) return sink.end(e);
        wait = backoff + Math.random() * backoff;
        backoff = Math.min(backoff * 2, 10000);
      }
      if (wait) await sleep(wait);
    }
  };
  run();
  return { opened, close: () => (ko(new Error("closed")), ac.abort()) };
}
