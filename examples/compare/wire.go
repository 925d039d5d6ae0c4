package main

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// wireListener wraps the listener of the side that accepts a pattern's
// connections. It counts the bytes read and written on them, counts them,
// and cuts them all on demand: the forced disconnects.
type wireListener struct {
	net.Listener
	read, written, accepted atomic.Int64

	mu   sync.Mutex
	open map[*wireConn]struct{}
	cuts int
}

func newWireListener(l net.Listener) *wireListener {
	return &wireListener{Listener: l, open: make(map[*wireConn]struct{})}
}

// Accept accepts a connection and wraps it.
func (l *wireListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	wc := &wireConn{Conn: c, l: l}
	l.mu.Lock()
	l.open[wc] = struct{}{}
	l.mu.Unlock()
	l.accepted.Add(1)
	return wc, nil
}

// cut closes every open connection and returns how many there were.
func (l *wireListener) cut() int {
	l.mu.Lock()
	conns := make([]*wireConn, 0, len(l.open))
	for c := range l.open {
		conns = append(conns, c)
	}
	clear(l.open)
	l.cuts++
	l.mu.Unlock()
	for _, c := range conns {
		c.Conn.Close()
	}
	return len(conns)
}

// wire returns the counters of the listener so far; requests and
// notModified come from the server's handler.
func (l *wireListener) wire(requests, notModified int64) wire {
	l.mu.Lock()
	cuts := l.cuts
	l.mu.Unlock()
	return wire{
		Read: l.read.Load(), Written: l.written.Load(), Accepted: l.accepted.Load(),
		Requests: requests, NotModified: notModified, Cuts: cuts,
	}
}

type wireConn struct {
	net.Conn
	l *wireListener
}

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.read.Add(int64(n))
	return n, err
}

func (c *wireConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.l.written.Add(int64(n))
	return n, err
}

func (c *wireConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.open, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// wire is what a pattern put on the wire, counted where its connections are
// accepted.
type wire struct {
	Read, Written int64 // bytes
	Accepted      int64 // connections
	Requests      int64 // HTTP requests (a WebSocket upgrade is one)
	NotModified   int64 // 304 answers
	Cuts          int   // forced disconnects so far
}

func (w wire) sub(o wire) wire {
	return wire{
		Read: w.Read - o.Read, Written: w.Written - o.Written, Accepted: w.Accepted - o.Accepted,
		Requests: w.Requests - o.Requests, NotModified: w.NotModified - o.NotModified, Cuts: w.Cuts - o.Cuts,
	}
}

// counting counts the requests h serves and its 304 answers. It wraps the
// ResponseWriter only to see the status, and unwraps for
// http.ResponseController, so hijacking and flushing work behind it.
type counting struct {
	h                     http.Handler
	requests, notModified atomic.Int64
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.requests.Add(1)
	c.h.ServeHTTP(&statusWriter{ResponseWriter: w, c: c}, r)
}

type statusWriter struct {
	http.ResponseWriter
	c *counting
}

func (w *statusWriter) WriteHeader(code int) {
	if code == http.StatusNotModified {
		w.c.notModified.Add(1)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
