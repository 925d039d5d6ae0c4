package ws

import (
	_ "embed"
	"net/http"
	"strconv"
)

//go:embed client.js
var clientJS []byte

// ClientJS returns an http.Handler serving the browser client, a
// dependency-free ES module (text/javascript) speaking the same protocol as
// Client, with the same reconnect and resume behaviour. Where Client ends a
// subscription on a reset, the browser client reports it to the
// subscription's onReset and continues after the top (see the package
// documentation). Mount it wherever pages can import it from:
//
//	mux.Handle("GET /pushpull-ws.js", ws.ClientJS())
//
// and in the page:
//
//	import { Client } from "/pushpull-ws.js";
//	const c = new Client(`ws://${location.host}/ws`);
//	await c.subscribe("chat", {
//	  onMessage: (m) => console.log(m.id, m.data),
//	  onReset: (err) => reload(err.top), // messages were lost; it continues after err.top
//	});
//	await c.publish("chat", "hello");
func ClientJS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(clientJS)))
		w.Header().Set("Cache-Control", "no-cache")
		if r.Method != http.MethodHead {
			w.Write(clientJS)
		}
	})
}
