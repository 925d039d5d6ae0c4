package sse

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// probeEvery is how often a stream on a hijacked connection checks that
// its client is still there, when heartbeats are off or further apart.
// Nothing reads a hijacked connection otherwise, so without the check a
// client that left would be noticed only by a failed write.
const probeEvery = 5 * time.Second

// probeWait bounds the read of a check on a connection that offers no
// read that does not wait (see alive).
const probeWait = time.Millisecond

// rawConn returns the socket under c for reads that do not wait: that of c
// itself or, through NetConn methods as on a *tls.Conn, of the connection
// it wraps. It returns nil when there is none. Reading the socket under a
// TLS connection is harmless here: nothing reads the TLS connection.
func rawConn(c net.Conn) syscall.RawConn {
	for range 8 {
		if sc, ok := c.(syscall.Conn); ok {
			rc, err := sc.SyscallConn()
			if err != nil {
				return nil
			}
			return rc
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
	return nil
}

// alive checks, without a goroutine, whether the client of a hijacked
// stream may still be there: it reads what is waiting on the connection
// (a client sends nothing after its request, so whatever comes is
// dropped) and reports false at the end of the connection or on an error.
// No data yet means alive.
func (s *stream) alive() bool {
	if s.raw != nil {
		if gone, ok := readNow(s.raw); ok {
			return !gone
		}
	}
	// A read deadline already past would fail the read before it looks at
	// the socket, so the read gets a short while instead. Only this
	// goroutine reads the connection, and writes have their own deadline.
	var b [64]byte
	_ = s.conn.SetReadDeadline(time.Now().Add(probeWait))
	_, err := s.conn.Read(b[:])
	_ = s.conn.SetReadDeadline(time.Time{})
	return err == nil || isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
