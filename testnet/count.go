package testnet

import (
	"net"
	"sync/atomic"
)

// CountingListener wraps a [net.Listener] and counts the bytes read and
// written on the connections it accepts, for benchmarks that report bytes
// on the wire. Set Listener before the first Accept; read the counters at
// any time.
type CountingListener struct {
	net.Listener
	// Read and Written are the bytes read from and written to all the
	// accepted connections so far.
	Read, Written atomic.Int64
}

// Accept accepts a connection from Listener and wraps it.
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
