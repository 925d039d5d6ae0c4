package retrytest

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// A Refusal is an answer the Gate gives instead of the Handler.
type Refusal struct {
	Status int
	Header http.Header // added to the answer
	// RetryAfter, when set, gives the Retry-After header of the answer
	// from the time the request arrived.
	RetryAfter func(now time.Time) string
	Body       string // sent as text/plain
}

// A Request is one request the Gate saw.
type Request struct {
	At      time.Time // when it arrived
	Status  int       // the status answered, 0 while none was written
	Refused bool      // answered by the Gate itself
}

// A Gate is an http.Handler in front of a server's Handler: it passes
// requests on to the Handler it routes to, or refuses them with a scripted
// answer, and records every request. Routing to a fresh Handler is a new
// server taking over the address, as in a rolling deploy. A Gate is safe
// for concurrent use.
type Gate struct {
	mu     sync.Mutex
	h      http.Handler
	queue  []Refusal // each answers one request, before always
	always *Refusal  // answers every request while set
	log    []Request
}

// Route sends the requests that are not refused to h from now on.
func (g *Gate) Route(h http.Handler) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.h = h
}

// RefuseNext answers the next n requests with r.
func (g *Gate) RefuseNext(n int, r Refusal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for range n {
		g.queue = append(g.queue, r)
	}
}

// RefuseAll answers every request with r until Open.
func (g *Gate) RefuseAll(r Refusal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.always = &r
}

// Open stops refusing requests.
func (g *Gate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.queue, g.always = nil, nil
}

// Pending is the number of refusals queued by RefuseNext that no request
// has met yet.
func (g *Gate) Pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// Requests returns the requests seen so far, in the order they arrived.
func (g *Gate) Requests() []Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Request(nil), g.log...)
}

// Count returns how many requests were answered with status.
func (g *Gate) Count(status int) int {
	n := 0
	for _, r := range g.Requests() {
		if r.Status == status {
			n++
		}
	}
	return n
}

// ServeHTTP implements http.Handler.
func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	i := len(g.log)
	g.log = append(g.log, Request{At: time.Now()})
	var ref *Refusal
	switch {
	case len(g.queue) > 0:
		ref = &g.queue[0]
		g.queue = g.queue[1:]
	case g.always != nil:
		ref = g.always
	}
	h := g.h
	if ref != nil {
		g.log[i].Refused, g.log[i].Status = true, ref.Status
	}
	g.mu.Unlock()
	if ref != nil {
		for k, vs := range ref.Header {
			w.Header()[k] = vs
		}
		if ref.RetryAfter != nil {
			w.Header().Set("Retry-After", ref.RetryAfter(time.Now()))
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(ref.Status)
		_, _ = w.Write([]byte(ref.Body))
		return
	}
	h.ServeHTTP(&recorder{ResponseWriter: w, g: g, i: i}, r)
}

// recorder notes the status a Handler answers. Streams reach the
// connection through Unwrap (http.ResponseController) or Hijack.
type recorder struct {
	http.ResponseWriter
	g     *Gate
	i     int
	wrote bool
}

func (w *recorder) note(status int) {
	if w.wrote {
		return
	}
	w.wrote = true
	w.g.mu.Lock()
	w.g.log[w.i].Status = status
	w.g.mu.Unlock()
}

func (w *recorder) WriteHeader(status int) {
	if status >= 200 || status == http.StatusSwitchingProtocols {
		w.note(status)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recorder) Write(p []byte) (int, error) {
	w.note(http.StatusOK)
	return w.ResponseWriter.Write(p)
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection over; a Handler that takes it writes its own
// response head (a 200 stream, a 101 upgrade) unseen.
func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Flush flushes the answer written so far.
func (w *recorder) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}
