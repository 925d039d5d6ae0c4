package testnet

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
)

// Pipe is an in-memory network: every DialContext makes a [net.Pipe] whose
// server end the next Accept returns. A Pipe is a [net.Listener]; pass
// DialContext to an [http.Transport] to reach a server listening on it.
// Reads and writes on its connections block durably, so inside a
// testing/synctest bubble fake time advances while they wait.
type Pipe struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewPipe returns an open Pipe.
func NewPipe() *Pipe {
	return &Pipe{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the next DialContext and returns the server end of its
// connection, or [net.ErrClosed] once the Pipe is closed.
func (p *Pipe) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and DialContext. Connections already made stay open.
// It is safe to call more than once.
func (p *Pipe) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

// Addr returns the address "pipe", on the network "pipe".
func (p *Pipe) Addr() net.Addr { return pipeAddr{} }

// DialContext connects to the Pipe's listener, ignoring network and
// address, and returns the client end. It waits until Accept takes the
// connection, ctx ends (its error) or the Pipe is closed
// ([net.ErrClosed]).
func (p *Pipe) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case p.conns <- s:
		return c, nil
	case <-p.done:
	case <-ctx.Done():
	}
	c.Close()
	s.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, net.ErrClosed
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// Serve runs srv on a new Pipe and returns a client whose requests, to any
// URL, reach it. When the test ends the client's idle connections are
// closed, srv is closed and Serve waits for srv.Serve to return. Connections
// that srv's handlers hijacked are theirs to close.
//
// Inside a testing/synctest bubble call Serve in the bubble, so that the
// server's goroutines and timers belong to it.
func Serve(t testing.TB, srv *http.Server) *http.Client {
	t.Helper()
	p := NewPipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(p)
	}()
	tr := &http.Transport{DialContext: p.DialContext}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		<-served
	})
	return &http.Client{Transport: tr}
}
