package testnet

import (
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
)

// KillListener wraps a [net.Listener] and cuts the connections it accepts,
// to test that clients resume where they were:
//
//   - with MaxBytes > 0, each connection is closed once it has written a
//     random number of bytes from 1 to MaxBytes, in the middle of the write
//     that crosses the mark, which fails with [net.ErrClosed];
//   - KillRandom closes one open connection at any time.
//
// Set Listener (and MaxBytes) before the first Accept and do not change
// them later. Its methods are safe for concurrent use.
type KillListener struct {
	net.Listener
	// MaxBytes bounds the random number of bytes a connection may write
	// before it is cut. Zero or less: connections are cut only by
	// KillRandom.
	MaxBytes int

	disarmed atomic.Bool
	mu       sync.Mutex
	open     []*killConn
	accepted int
	kills    int
}

// Accept accepts a connection from Listener and wraps it.
func (l *KillListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	kc := &killConn{Conn: c, l: l, budget: -1}
	if l.MaxBytes > 0 {
		kc.budget = 1 + rand.IntN(l.MaxBytes)
	}
	l.mu.Lock()
	l.open = append(l.open, kc)
	l.accepted++
	l.mu.Unlock()
	return kc, nil
}

// KillRandom closes one of the accepted connections still open, chosen at
// random, and reports whether there was one.
func (l *KillListener) KillRandom() bool {
	l.mu.Lock()
	if len(l.open) == 0 {
		l.mu.Unlock()
		return false
	}
	c := l.open[rand.IntN(len(l.open))]
	l.mu.Unlock()
	c.kill()
	return true
}

// Disarm stops the cuts after MaxBytes: from now on connections write
// whatever their budget. KillRandom still works.
func (l *KillListener) Disarm() { l.disarmed.Store(true) }

// Kills returns the number of connections cut so far.
func (l *KillListener) Kills() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.kills
}

// Accepted returns the number of connections accepted so far.
func (l *KillListener) Accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepted
}

// forget removes c from the open connections and reports whether it was
// there, and so whether this is its first close.
func (l *KillListener) forget(c *killConn, kill bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := -1
	for j, o := range l.open {
		if o == c {
			i = j
			break
		}
	}
	if i < 0 {
		return false
	}
	l.open[i] = l.open[len(l.open)-1]
	l.open = l.open[:len(l.open)-1]
	if kill {
		l.kills++
	}
	return true
}

type killConn struct {
	net.Conn
	l      *KillListener
	mu     sync.Mutex // serialises Write and its budget
	budget int        // bytes left before the cut; -1: no limit
}

func (c *killConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.budget < 0 || c.l.disarmed.Load() || len(p) <= c.budget {
		if c.budget >= 0 {
			c.budget = max(0, c.budget-len(p))
		}
		return c.Conn.Write(p)
	}
	n, _ := c.Conn.Write(p[:c.budget])
	c.budget = 0
	c.kill()
	return n, net.ErrClosed
}

// kill closes the connection and counts it as cut, unless it was closed
// already.
func (c *killConn) kill() {
	if c.l.forget(c, true) {
		c.Conn.Close()
	}
}

// NetConn returns the wrapped connection, as tls.Conn's NetConn does, so
// that a server can watch its file descriptor.
func (c *killConn) NetConn() net.Conn { return c.Conn }

// Close closes the connection; it is then no longer open to KillRandom.
func (c *killConn) Close() error {
	c.l.forget(c, false)
	return c.Conn.Close()
}
