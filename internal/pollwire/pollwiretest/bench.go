package pollwiretest

import (
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"
)

// CountingListener counts the bytes read and written on its connections.
type CountingListener struct {
	net.Listener
	Read, Written atomic.Int64
}

// Accept implements net.Listener.
func (l *CountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l *CountingListener
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.Read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.l.Written.Add(int64(n))
	return n, err
}

// Counter counts the requests it passes to Handler, by status.
type Counter struct {
	Handler  http.Handler
	Requests atomic.Int64
	NotMod   atomic.Int64
}

// ServeHTTP implements http.Handler.
func (c *Counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.Requests.Add(1)
	c.Handler.ServeHTTP(&notModWriter{ResponseWriter: w, c: c}, r)
}

type notModWriter struct {
	http.ResponseWriter
	c *Counter
}

func (w *notModWriter) WriteHeader(code int) {
	if code == http.StatusNotModified {
		w.c.NotMod.Add(1)
	}
	w.ResponseWriter.WriteHeader(code)
}

// StripConditional is a RoundTripper that removes If-None-Match, to measure
// polling without 304 answers.
type StripConditional struct{ Base http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (s StripConditional) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Del("If-None-Match")
	return s.Base.RoundTrip(r)
}

// Percentile returns the p-th percentile (0–100) of d, which it sorts.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(float64(len(d)-1) * p / 100)
	return d[i]
}
