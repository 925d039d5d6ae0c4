package longpoll

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
)

// Listener returns a listener that accepts ln's connections for an
// http.Server and, in addition, takes back the connections of the requests
// this Handler held outside net/http.
//
// A request that arrives through it on an HTTP/1.1 connection and must be
// held is taken over (http.ResponseController.Hijack): ServeHTTP returns
// at once, net/http's goroutine and buffers for the connection are freed,
// and one small goroutine of the Handler waits for the answer and notices
// a client that leaves. It writes the answer itself, with the headers
// middleware set before ServeHTTP and a Content-Length, then hands the
// connection back to the http.Server through this listener, so a
// keep-alive client goes on using its connection as if net/http had
// answered. A held request costs then about a third of what it costs in
// net/http (see BENCHMARKS.md). Without Listener, requests are held in
// ServeHTTP, as net/http handlers are.
//
// What middleware sees of a request taken over: ServeHTTP returns without
// writing anything (a status recorder reads 200 and no bytes, a timer the
// time to take it over), and headers set after ServeHTTP returns are not
// sent. A request is held in ServeHTTP instead when its ResponseWriter
// cannot reach net/http's Hijacker through Unwrap methods, on HTTP/1.0 and
// HTTP/2, with a request body, or when its connection was not accepted by
// a listener of this Handler. A connection whose client sent more bytes
// while its request was held (pipelining) is closed after the answer. The
// http.Server sees a connection taken over as hijacked (ConnState
// StateHijacked), and one handed back as a new connection (StateNew,
// ConnContext called again); its Shutdown does not wait for requests held
// outside it: register Handler.Shutdown with RegisterOnShutdown, which
// answers them and closes their connections.
//
// For TLS, wrap the TLS listener: srv.Serve(h.Listener(tls.NewListener(ln,
// cfg))); under http.Server.ServeTLS connections are closed after the
// answer instead of handed back. Close ends the listener's goroutine and
// closes the connections not yet accepted again.
func (h *Handler) Listener(ln net.Listener) net.Listener {
	l := &listener{
		Listener: ln,
		h:        h,
		acc:      make(chan accepted),
		back:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		ended:    make(chan struct{}),
	}
	h.mu.Lock()
	h.lns = append(h.lns, l)
	h.mu.Unlock()
	return l
}

// A listener is a Handler's net.Listener (Handler.Listener).
type listener struct {
	net.Listener
	h     *Handler
	acc   chan accepted // from accept
	back  chan struct{} // something in queue
	done  chan struct{} // closed by Close
	ended chan struct{} // closed when accept returns
	start sync.Once
	stop  sync.Once

	mu     sync.Mutex
	queue  []net.Conn // connections handed back
	closed bool
	err    error // accept's last error, once ended is closed
	tls    bool  // ln's connections are *tls.Conn
}

type accepted struct {
	c   net.Conn
	err error
}

// Accept returns the next connection, new or handed back. The first call
// starts the goroutine that accepts from the wrapped listener; it ends
// with Close. Errors of the wrapped listener are passed on as they come.
func (l *listener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.accept() })
	for {
		l.mu.Lock()
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			l.mu.Unlock()
			return c, nil
		}
		l.mu.Unlock()
		select {
		case <-l.back:
		case a := <-l.acc:
			return a.c, a.err
		case <-l.ended:
			l.mu.Lock()
			err := l.err
			l.mu.Unlock()
			return nil, err
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
}

func (l *listener) accept() {
	defer close(l.ended)
	for {
		c, err := l.Listener.Accept()
		if c != nil {
			_, isTLS := c.(*tls.Conn)
			l.mu.Lock()
			l.tls = isTLS
			l.mu.Unlock()
		}
		if errors.Is(err, net.ErrClosed) {
			l.mu.Lock()
			l.err = err
			l.mu.Unlock()
			return
		}
		select {
		case l.acc <- accepted{c, err}:
		case <-l.done:
			if c != nil {
				c.Close()
			}
			return
		}
	}
}

// Close closes the wrapped listener and the connections handed back but
// not accepted again, and waits for the listener's goroutine.
func (l *listener) Close() error {
	var err error
	l.stop.Do(func() {
		close(l.done)
		err = l.Listener.Close()
		l.mu.Lock()
		l.closed = true
		for _, c := range l.queue {
			c.Close()
		}
		l.queue = nil
		l.mu.Unlock()
		l.start.Do(func() { close(l.ended) }) // never started
		<-l.ended
		h := l.h
		h.mu.Lock()
		for i, x := range h.lns {
			if x == l {
				h.lns = append(h.lns[:i], h.lns[i+1:]...)
				break
			}
		}
		h.mu.Unlock()
	})
	return err
}

// takes reports whether c, a connection l accepted, can be handed back
// to l: not when TLS was added around l (ServeTLS), since the server would
// add it again.
func (l *listener) takes(c net.Conn) bool {
	_, isTLS := c.(*tls.Conn)
	l.mu.Lock()
	defer l.mu.Unlock()
	return isTLS == l.tls
}

// handBack queues c to be accepted again, or closes it when the listener
// is closed or c cannot be served again through it.
func (l *listener) handBack(c net.Conn) {
	_, isTLS := c.(*tls.Conn)
	l.mu.Lock()
	if l.closed || isTLS != l.tls {
		l.mu.Unlock()
		c.Close()
		return
	}
	l.queue = append(l.queue, c)
	l.mu.Unlock()
	select {
	case l.back <- struct{}{}:
	default:
	}
}

// serves reports whether l accepted the connection whose local address is
// addr.
func (l *listener) serves(addr net.Addr) bool {
	mine := l.Addr()
	if a, ok := addr.(*net.TCPAddr); ok {
		m, ok := mine.(*net.TCPAddr)
		return ok && m.Port == a.Port && (m.IP.IsUnspecified() || m.IP.Equal(a.IP))
	}
	return mine.Network() == addr.Network() && mine.String() == addr.String()
}
