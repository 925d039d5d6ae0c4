package sse

import (
	"fmt"
	"net/http"
	"sync"
)

// minimalHub is the baseline of the benchmarks: the SSE fan-out loop one
// writes by hand with net/http — a channel per client, formatting and
// flushing each event per connection, no history, no resume, no deadlines.
type minimalHub struct {
	mu      sync.Mutex
	clients map[chan minimalMsg]struct{}
}

type minimalMsg struct {
	id   string
	data []byte
}

func (h *minimalHub) publish(id string, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.clients {
		select {
		case ch <- minimalMsg{id, data}:
		default: // full: drop, as such loops do
		}
	}
}

func (h *minimalHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	f.Flush()
	ch := make(chan minimalMsg, 16)
	h.mu.Lock()
	if h.clients == nil {
		h.clients = make(map[chan minimalMsg]struct{})
	}
	h.clients[ch] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.clients, ch)
		h.mu.Unlock()
	}()
	for {
		select {
		case m := <-ch:
			if _, err := fmt.Fprintf(w, "id: %s\ndata: %s\n\n", m.id, m.data); err != nil {
				return
			}
			f.Flush()
		case <-r.Context().Done():
			return
		}
	}
}
