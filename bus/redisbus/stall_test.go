package redisbus_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/redisbus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// stallProxy forwards loopback TCP connections to a Redis server until it
// is silenced: from then on it accepts connections and reads what arrives
// but forwards nothing either way, like a server that stopped answering
// without closing anything.
type stallProxy struct {
	l        net.Listener
	target   string
	mu       sync.Mutex
	silent   bool
	conns    []net.Conn
	accepted chan struct{} // a connection arrived while silent
	wg       sync.WaitGroup
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &stallProxy{l: l, target: target, accepted: make(chan struct{}, 64)}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) addr() string { return p.l.Addr().String() }

func (p *stallProxy) silence() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.silent = true
}

func (p *stallProxy) isSilent() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.silent
}

// track records c for close; it reports false once the proxy is closed.
func (p *stallProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *stallProxy) serve() {
	defer p.wg.Done()
	p.mu.Lock()
	p.conns = []net.Conn{}
	p.mu.Unlock()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			_ = c.Close()
			return
		}
		if p.isSilent() {
			select {
			case p.accepted <- struct{}{}:
			default:
			}
			p.wg.Add(1)
			go p.pipe(c, nil)
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil || !p.track(up) {
			_ = c.Close()
			if up != nil {
				_ = up.Close()
			}
			continue
		}
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

// pipe copies from src to dst until the proxy is silenced, then discards
// what src sends. dst nil discards from the start.
func (p *stallProxy) pipe(src, dst net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && dst != nil && !p.isSilent() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				_, _ = io.Copy(io.Discard, src)
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallProxy) close() {
	_ = p.l.Close()
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	p.wg.Wait()
}

// within runs fn on a goroutine and returns its error, failing the test
// when fn has not returned after limit (a generous bound, far above the
// time fn needs).
func within(t *testing.T, limit time.Duration, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		t.Fatalf("%s did not return within %v while Redis was silent", what, limit)
		return nil
	}
}

// TestSilentServer checks that a Redis server that stops answering, even
// while the upstream connection is being re-established, blocks neither
// Subscribe past its context, nor the Close of a subscription, nor the
// broker's Close.
func TestSilentServer(t *testing.T) {
	url := redisURL(t)
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	proxy := newStallProxy(t, opt.Addr)
	opt.Addr = proxy.addr()
	b := &redisbus.Broker{Client: redis.NewClient(opt), Prefix: freshPrefix(t, url), CheckInterval: time.Hour}
	defer b.Client.Close()
	ctx := context.Background()

	sub, err := b.Subscribe(ctx, "stall", "")
	require.NoError(t, err)
	m, err := b.Publish(ctx, "stall", bus.Message{Data: []byte("before")})
	require.NoError(t, err)
	got := <-sub.C()
	require.Equal(t, m.ID, got.ID)

	proxy.silence()
	// The upstream notices the silence and dials again; the new
	// connection's handshake then waits for an answer that never comes.
	select {
	case <-proxy.accepted:
	case <-time.After(time.Minute):
		t.Fatal("the upstream did not reconnect")
	}

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err = within(t, 15*time.Second, "Subscribe", func() error {
		s, err := b.Subscribe(short, "stall-new", "")
		if err == nil {
			_ = s.Close()
		}
		return err
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)

	require.NoError(t, within(t, 15*time.Second, "Subscription.Close", sub.Close))
	require.NoError(t, within(t, 15*time.Second, "Broker.Close", b.Close))
	_, err = b.Subscribe(ctx, "stall", "")
	require.True(t, errors.Is(err, bus.ErrClosed), "Subscribe after Close: %v", err)
}
