package sse

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/pushpull/pushpull/bus"
)

// pipeNet is an in-memory network of net.Pipe connections: a listener for
// an http.Server and a dialer for an http.Transport. Inside a
// testing/synctest bubble its reads block durably, so fake time advances.
type pipeNet struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newPipeNet() *pipeNet { return &pipeNet{ch: make(chan net.Conn), done: make(chan struct{})} }

func (l *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeNet) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeNet) Addr() net.Addr { return pipeAddr{} }

func (l *pipeNet) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.ch <- s:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// servePipe serves h on a pipe network and returns a client for it. Both
// are shut down when the test ends (call it inside the bubble).
func servePipe(t *testing.T, srv *http.Server) *http.Client {
	t.Helper()
	l := newPipeNet()
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
	tr := &http.Transport{DialContext: l.dial}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		<-served
	})
	return &http.Client{Transport: tr}
}

// publish publishes messages and returns the stored ones. It runs on the
// test goroutine.
func publish(t *testing.T, b bus.Broker, topic string, msgs ...bus.Message) []bus.Message {
	t.Helper()
	out := make([]bus.Message, len(msgs))
	for i, m := range msgs {
		var err error
		if out[i], err = b.Publish(context.Background(), topic, m); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	return out
}
