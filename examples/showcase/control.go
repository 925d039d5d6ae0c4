package main

import (
	"encoding/json"
	"net/http"
	"path"
	"sync"
)

// routeOf maps the fallback client's transport names to the last element
// of their routes under /rt.
var routeOf = map[string]string{"websocket": "ws", "sse": "sse", "longpoll": "longpoll", "poll": "poll"}

// blockSet is the set of the fallback panel's transports switched off, by
// route, as a proxy that lets one of them through no more would.
type blockSet struct {
	mu  sync.Mutex
	off map[string]bool
}

func (b *blockSet) set(route string, off bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.off == nil {
		b.off = make(map[string]bool)
	}
	b.off[route] = off
}

func (b *blockSet) is(route string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.off[route]
}

// list returns the transports switched off, by name.
func (b *blockSet) list() map[string]bool {
	out := make(map[string]bool, len(routeOf))
	for name, route := range routeOf {
		out[name] = b.is(route)
	}
	return out
}

// handler answers the requests of a transport switched off with 404, as
// the auto.Handler does for a transport it does not serve: the client
// tries the next one.
func (b *blockSet) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.is(path.Base(r.URL.Path)) {
			http.Error(w, "blocked by the showcase's switch", http.StatusNotFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// stats is what the page shows of every panel, as JSON.
type stats struct {
	Panels  map[string]panelStats `json:"panels"`
	Blocked map[string]bool       `json:"blocked"` // the fallback panel's transports switched off
	Webhook webhookStats          `json:"webhook"`
}

// stats answers GET /showcase/stats.
func (a *app) stats(w http.ResponseWriter, r *http.Request) {
	s := stats{Panels: map[string]panelStats{}, Blocked: a.blocked.list(), Webhook: a.hooks.stats(retrySchedule)}
	for p, m := range a.meters {
		s.Panels[p] = m.stats()
	}
	writeJSON(w, http.StatusOK, s)
}

// drop answers POST /showcase/drop/{panel}: it cuts the connections the
// panel's requests are served on, at the server (the webhook panel: the
// next delivery's, and its inbox stream). The clients resume from their
// cursors.
func (a *app) drop(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("panel")
	m, ok := a.meters[p]
	if !ok || p == panelInbox {
		http.Error(w, "no such panel", http.StatusNotFound)
		return
	}
	if p == panelWebhook {
		a.hooks.cut()
		m = a.meters[panelInbox]
	}
	writeJSON(w, http.StatusOK, map[string]int{"cut": m.cut("")})
}

// block answers POST /showcase/block/{transport}?off=true|false: it
// switches one of the fallback panel's transports off or on. Switching
// one off also cuts its connections in flight, so the client notices.
func (a *app) block(w http.ResponseWriter, r *http.Request) {
	route, ok := routeOf[r.PathValue("transport")]
	if !ok {
		http.Error(w, "no such transport", http.StatusNotFound)
		return
	}
	off := r.FormValue("off") == "true"
	a.blocked.set(route, off)
	if off {
		a.meters[panelAuto].cut(route)
	}
	writeJSON(w, http.StatusOK, a.blocked.list())
}

// webhookTry answers POST /showcase/webhook/forge and /replay: it sends
// the Receiver a forged event, or the last delivery again, and reports its
// answer.
func (a *app) webhookTry(w http.ResponseWriter, r *http.Request) {
	var (
		res refusal
		err error
	)
	switch r.PathValue("what") {
	case "forge":
		res, err = a.hooks.forge(r.Context())
	case "replay":
		var ok bool
		res, ok, err = a.hooks.replay(r.Context())
		if err == nil && !ok {
			http.Error(w, "nothing delivered yet to replay", http.StatusConflict)
			return
		}
	default:
		http.Error(w, "forge or replay", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
