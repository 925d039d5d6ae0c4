package testnet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// Cutter wraps Handler and breaks a fraction Rate of the requests, in
// three ways drawn at random: the connection is closed before the handler
// runs; or after it, in the middle of the answer's body; or while the
// handler runs (up to 5 ms in, as if the client left during a held request),
// with no answer. Where [KillListener] cuts connections at byte offsets,
// Cutter cuts requests, so it can break each one of a keep-alive
// connection's requests at a chosen rate. It needs a server whose
// connections can be hijacked (httptest.NewServer, [Serve]).
//
// Set the fields before the first request. Its methods are safe for
// concurrent use.
type Cutter struct {
	// Handler serves the requests, even most of those that are cut.
	Handler http.Handler
	// Rate is the fraction of requests to break, in [0, 1].
	Rate float64
	// Seed seeds the draws: one seed gives one sequence of cuts.
	Seed uint64

	mu   sync.Mutex
	rnd  *rand.Rand
	cuts int
}

// Cuts returns the number of requests broken so far.
func (c *Cutter) Cuts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cuts
}

func (c *Cutter) draw() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rnd == nil {
		c.rnd = rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	}
	if c.rnd.Float64() >= c.Rate {
		return 0
	}
	c.cuts++
	return 1 + c.rnd.IntN(3)
}

func (c *Cutter) delay() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(c.rnd.Int64N(int64(5 * time.Millisecond)))
}

// ServeHTTP implements http.Handler.
func (c *Cutter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mode := c.draw()
	if mode == 0 {
		c.Handler.ServeHTTP(w, r)
		return
	}
	var rec *httptest.ResponseRecorder
	switch mode {
	case 2:
		rec = httptest.NewRecorder()
		c.Handler.ServeHTTP(rec, r)
	case 3:
		ctx, cancel := context.WithTimeout(r.Context(), c.delay())
		c.Handler.ServeHTTP(httptest.NewRecorder(), r.WithContext(ctx))
		cancel()
	}
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(fmt.Sprintf("testnet: hijack: %v", err))
	}
	defer conn.Close()
	if rec == nil {
		return
	}
	body := rec.Body.Bytes()
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %s\r\n\r\n",
		rec.Code, http.StatusText(rec.Code), rec.Header().Get("Content-Type"), strconv.Itoa(len(body)))
	_, _ = buf.Write(body[:len(body)/2])
	_ = buf.Flush()
}
