// Command ws is a small chat over pushpull's WebSocket transport: a page
// using the browser client (ws.ClientJS) publishes and subscribes through a
// ws.Handler on an in-memory bus. Open it in two windows; reload one or cut
// its network and it catches up with what it missed. The page lists who is
// online (package auth/presence), and every message names its sender as
// the server stamped it (auth.Stamp), so nobody can write as someone else.
//
//	go run ./examples/ws -addr localhost:8080
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/auth/presence"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/ws"
)

// chatAuth is the chat's auth.Authorizer. The demo trusts the name in the
// URL; a real service would use an auth.Bearer with a jwt.Verifier, whose
// tokens it hands out at login.
type chatAuth struct{}

// Authenticate implements auth.Authorizer: the name parameter ("anon"
// without one) is the subject, which may read and write every topic.
func (chatAuth) Authenticate(r *http.Request) (*auth.Identity, error) {
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "anon"
	}
	if len(name) > 64 {
		return nil, fmt.Errorf("%w: name longer than 64 bytes", auth.ErrUnauthenticated)
	}
	return &auth.Identity{Subject: name, Subscribe: []string{"*"}, Publish: []string{"*"}}, nil
}

// Authorize implements auth.Authorizer: what the identity grants, except
// publishing on presence topics, which only the server does.
func (chatAuth) Authorize(_ context.Context, id *auth.Identity, action auth.Action, topic string) error {
	if action == auth.Publish && strings.HasPrefix(topic, presence.DefaultPrefix) {
		return fmt.Errorf("%w: presence topics are the server's", auth.ErrForbidden)
	}
	return id.Check(action, topic)
}

// newApp returns the chat's routes: the page, the browser client, the
// WebSocket endpoint and the list of who is online (/presence?topic=chat).
func newApp(b bus.Broker) (http.Handler, *ws.Handler) {
	online := &presence.Memory{Auth: chatAuth{}, Broker: b}
	h := &ws.Handler{Broker: b, Auth: online,
		// The sender of every message is who published it.
		OnPublish: func(_ context.Context, c *ws.Conn, m *bus.Message) error {
			return auth.Stamp(m, "from", c.Identity())
		},
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", h)
	mux.Handle("GET /presence", online)
	mux.Handle("GET /pushpull-ws.js", ws.ClientJS())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	})
	return mux, h
}

func main() {
	addr := flag.String("addr", "localhost:8080", "listen address")
	flag.Parse()
	b := &bus.Memory{}
	defer b.Close()
	app, h := newApp(b)
	srv := &http.Server{Addr: *addr, Handler: app}
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx)
	})
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, os.Interrupt)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	log.Printf("chat on http://%s/", *addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

const page = `<!doctype html>
<meta charset="utf-8">
<title>pushpull ws chat</title>
<style>body{font:16px system-ui;max-width:40em;margin:2em auto} #log{min-height:10em;border:1px solid #ccc;padding:.5em} .state{color:#888}</style>
<h1>Chat <span class="state" id="state">connecting…</span></h1>
<p>Online: <span id="online"></span></p>
<div id="log"></div>
<form id="form"><input id="text" autocomplete="off" autofocus> <button>Send</button></form>
<script type="module">
import { Client } from "/pushpull-ws.js";
const name = new URLSearchParams(location.search).get("name") || "anon";
const chat = { messages: [], online: [], opens: 0, ready: false };
window.chat = chat;
const proto = location.protocol === "https:" ? "wss:" : "ws:";
const client = new Client(proto + "//" + location.host + "/ws?name=" + encodeURIComponent(name), {
  minBackoff: 50, maxBackoff: 1000,
  onstatechange: (s) => {
    if (s === "open") chat.opens++;
    document.getElementById("state").textContent = s;
  },
});
chat.client = client;
chat.send = (text) => client.publish("chat", JSON.stringify({ text }));
await client.subscribe("chat", {
  after: "0", // the whole retained history, then live messages
  onMessage: (m) => {
    // meta.from is stamped by the server: the sender cannot choose it.
    const line = m.meta.from + ": " + JSON.parse(m.data).text;
    chat.messages.push(line);
    const p = document.createElement("div");
    p.textContent = line;
    document.getElementById("log").append(p);
  },
});
// Who is online: the list, then its join and leave events.
const online = new Set();
const showOnline = () => {
  chat.online = [...online].sort();
  document.getElementById("online").textContent = chat.online.join(", ");
};
await client.subscribe("presence/chat", {
  onMessage: (m) => {
    const { subject } = JSON.parse(m.data);
    if (m.type === "presence.join") online.add(subject); else online.delete(subject);
    showOnline();
  },
});
const list = await (await fetch("/presence?topic=chat&name=" + encodeURIComponent(name))).json();
for (const m of list.members) online.add(m.subject);
showOnline();
chat.ready = true;
document.getElementById("form").onsubmit = (e) => {
  e.preventDefault();
  const t = document.getElementById("text");
  if (t.value) chat.send(t.value);
  t.value = "";
};
</script>
`
