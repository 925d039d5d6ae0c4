// Command ws is a small chat over pushpull's WebSocket transport: a page
// using the browser client (ws.ClientJS) publishes and subscribes through a
// ws.Handler on an in-memory bus. Open it in two windows; reload one or cut
// its network and it catches up with what it missed.
//
//	go run ./examples/ws -addr localhost:8080
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/ws"
)

// newApp returns the chat's routes: the page, the browser client and the
// WebSocket endpoint.
func newApp(b bus.Broker) (http.Handler, *ws.Handler) {
	h := &ws.Handler{Broker: b}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", h)
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
<div id="log"></div>
<form id="form"><input id="text" autocomplete="off" autofocus> <button>Send</button></form>
<script type="module">
import { Client } from "/pushpull-ws.js";
const name = new URLSearchParams(location.search).get("name") || "anon";
const chat = { messages: [], opens: 0, ready: false };
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
chat.send = (text) => client.publish("chat", JSON.stringify({ name, text }));
await client.subscribe("chat", {
  after: "0", // the whole retained history, then live messages
  onMessage: (m) => {
    const { name, text } = JSON.parse(m.data);
    chat.messages.push(name + ": " + text);
    const p = document.createElement("div");
    p.textContent = name + ": " + text;
    document.getElementById("log").append(p);
  },
});
chat.ready = true;
document.getElementById("form").onsubmit = (e) => {
  e.preventDefault();
  const t = document.getElementById("text");
  if (t.value) chat.send(t.value);
  t.value = "";
};
</script>
`
