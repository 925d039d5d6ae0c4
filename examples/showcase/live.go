package main

import (
	"context"
	"net"
	"net/http"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// The page's panels, each counted by a meter of its own.
const (
	panelPoll     = "poll"
	panelLongpoll = "longpoll"
	panelSSE      = "sse"
	panelWS       = "ws"
	panelWebhook  = "webhook"
	panelAuto     = "auto"
	panelInbox    = "inbox" // the webhook panel's SSE stream of the inbox topic
)

// panels lists the meters the stats answer reports, in page order.
var panels = []string{panelPoll, panelLongpoll, panelSSE, panelWS, panelWebhook, panelAuto, panelInbox}

// connKey is the context key of the *meteredConn a request arrived on.
type connKey struct{}

// meteredConn is a connection of the server's listener that adds the bytes
// the server writes on it to the meter of the last request it served
// through one (see unmetered). HTTP/1.1 serves one request at a time on a
// connection and writes the end of an answer after its handler returned,
// so the meter stays until the next request begins.
type meteredConn struct {
	net.Conn
	meter  atomic.Pointer[meter]
	closed atomic.Bool
}

// Close closes the connection and takes it off its meter's idle ones.
func (c *meteredConn) Close() error {
	c.closed.Store(true)
	if m := c.meter.Load(); m != nil {
		m.forget(c)
	}
	return c.Conn.Close()
}

func (c *meteredConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if m := c.meter.Load(); m != nil {
		m.bytes.Add(int64(n))
	}
	return n, err
}

// meterListener wraps the connections l accepts in meteredConns.
type meterListener struct{ net.Listener }

func (l meterListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &meteredConn{Conn: c}, nil
}

// connContext is the http.Server's ConnContext: it puts the meteredConn in
// the context of the requests it carries.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if mc, ok := c.(*meteredConn); ok {
		return context.WithValue(ctx, connKey{}, mc)
	}
	return ctx
}

// A meter counts what the server does for one panel: the requests it
// answers, the bytes it sends on the wire for them (headers included), the
// messages handed to the transport (one handed to a connection as it is
// cut counts again when it is resent after the resume) and the latency of
// the last one (from its publication to that moment). It knows the connections of the
// requests in flight, so a panel's connections can be cut.
type meter struct {
	requests atomic.Int64
	bytes    atomic.Int64
	messages atomic.Int64
	latency  atomic.Int64 // nanoseconds
	drops    atomic.Int64

	mu    sync.Mutex
	conns map[*meteredConn]string   // in flight, with the transport route's last element
	idle  map[*meteredConn]struct{} // kept alive after the panel's last request on them
}

// forget takes c off the idle connections.
func (m *meter) forget(c *meteredConn) {
	m.mu.Lock()
	delete(m.idle, c)
	m.mu.Unlock()
}

// delivered counts m as handed to the transport now.
func (m *meter) delivered(msg bus.Message) {
	m.messages.Add(1)
	if !msg.Time.IsZero() {
		m.latency.Store(int64(time.Since(msg.Time)))
	}
}

// handler counts next's requests and keeps their connections while they
// are served.
func (m *meter) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.requests.Add(1)
		mc, _ := r.Context().Value(connKey{}).(*meteredConn)
		if mc == nil {
			next.ServeHTTP(w, r)
			return
		}
		m.mu.Lock()
		if m.conns == nil {
			m.conns = make(map[*meteredConn]string)
		}
		m.conns[mc] = path.Base(r.URL.Path)
		m.mu.Unlock()
		mc.meter.Store(m)
		defer func() {
			m.mu.Lock()
			delete(m.conns, mc)
			if !mc.closed.Load() { // else Close has forgotten it, or will
				if m.idle == nil {
					m.idle = make(map[*meteredConn]struct{})
				}
				m.idle[mc] = struct{}{}
			}
			m.mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}

// unmetered takes the meter off the connection of every request next
// serves, before a panel's handler puts its own: an answer is counted for
// the panel that wrote it only.
func unmetered(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mc, ok := r.Context().Value(connKey{}).(*meteredConn); ok {
			if m := mc.meter.Swap(nil); m != nil {
				m.forget(mc)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// cut closes the connections of the requests in flight whose route ends
// in route, or with route "" all of them and the idle keep-alive
// connections the panel used last, and returns how many it closed: the
// clients see a dropped connection and resume from their cursors.
func (m *meter) cut(route string) int {
	m.mu.Lock()
	var cs []net.Conn
	for c, r := range m.conns {
		if route == "" || r == route {
			cs = append(cs, c)
		}
	}
	if route == "" {
		for c := range m.idle {
			cs = append(cs, c)
		}
	}
	m.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
	if len(cs) > 0 {
		m.drops.Add(1)
	}
	return len(cs)
}

// open returns the number of requests in flight.
func (m *meter) open() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.conns)
}

// panelStats is a meter's entry in the stats answer.
type panelStats struct {
	Requests  int64   `json:"requests"`
	Bytes     int64   `json:"bytes"`
	Messages  int64   `json:"messages"`
	LatencyMS float64 `json:"latency_ms"` // of the last message, 0 before the first
	Open      int     `json:"open"`       // requests in flight (held or streaming)
	Drops     int64   `json:"drops"`      // times its connections were cut
}

func (m *meter) stats() panelStats {
	return panelStats{
		Requests:  m.requests.Load(),
		Bytes:     m.bytes.Load(),
		Messages:  m.messages.Load(),
		LatencyMS: float64(m.latency.Load()) / float64(time.Millisecond),
		Open:      m.open(),
		Drops:     m.drops.Load(),
	}
}

// countedBroker is the bus as one panel's handler sees it: every message
// handed to the handler, read or received on a subscription, is counted
// on the panel's meter.
type countedBroker struct {
	bus.Broker
	meter *meter
}

func (b countedBroker) Read(ctx context.Context, topic, after string, limit int) ([]bus.Message, error) {
	ms, err := b.Broker.Read(ctx, topic, after, limit)
	for _, m := range ms {
		b.meter.delivered(m)
	}
	return ms, err
}

func (b countedBroker) Subscribe(ctx context.Context, topic, after string) (bus.Subscription, error) {
	s, err := b.Broker.Subscribe(ctx, topic, after)
	if err != nil {
		return nil, err
	}
	cs := &countedSub{in: s, c: make(chan bus.Message), stop: make(chan struct{}), done: make(chan struct{})}
	go cs.forward(b.meter)
	return cs, nil
}

// countedSub forwards a subscription's messages, counting each.
type countedSub struct {
	in   bus.Subscription
	c    chan bus.Message
	stop chan struct{} // closed by Close
	done chan struct{} // closed when forward has returned
	once sync.Once
}

func (s *countedSub) forward(m *meter) {
	defer close(s.done)
	defer close(s.c)
	for {
		select {
		case msg, ok := <-s.in.C():
			if !ok {
				return
			}
			m.delivered(msg)
			select {
			case s.c <- msg:
			case <-s.stop:
				return
			}
		case <-s.stop:
			return
		}
	}
}

func (s *countedSub) C() <-chan bus.Message { return s.c }

// Err is the forwarded subscription's: it is set once s.C is closed
// because that subscription ended.
func (s *countedSub) Err() error { return s.in.Err() }

func (s *countedSub) Close() error {
	s.once.Do(func() { close(s.stop) })
	err := s.in.Close()
	<-s.done
	return err
}
