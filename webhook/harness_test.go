package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Modes of a flakyServer.
const (
	modeOK = iota
	mode500
	mode429
	modeSlow
)

// flakyServer is a Receiver on a loopback address that can misbehave, go
// down and come back on the same address. Its handler records the "n" of
// each event, in the order handled.
type flakyServer struct {
	t        testing.TB
	addr     string
	recv     *Receiver
	mode     atomic.Int32
	slow     time.Duration
	mu       sync.Mutex
	srv      *http.Server
	served   sync.WaitGroup
	handlers sync.WaitGroup
	got      []int
	counts   map[int]int
}

func newFlakyServer(t testing.TB, keys Keyring) *flakyServer {
	f := &flakyServer{t: t, counts: map[int]int{}, slow: 300 * time.Millisecond}
	f.recv = &Receiver{Keys: keys, Handler: f.handle}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f.addr = l.Addr().String()
	f.start(l)
	t.Cleanup(f.stop)
	return f
}

func (f *flakyServer) URL() string { return "http://" + f.addr + "/hook" }

func (f *flakyServer) handle(_ context.Context, e *Event) error {
	if f.mode.Load() == modeSlow {
		time.Sleep(f.slow) // longer than the sender's timeout, with the claim held
	}
	p, err := ParsePayload(e.Body)
	if err != nil {
		return err
	}
	var d struct{ N int }
	if err := json.Unmarshal(p.Data, &d); err != nil {
		return err
	}
	f.mu.Lock()
	f.got = append(f.got, d.N)
	f.counts[d.N]++
	f.mu.Unlock()
	return nil
}

func (f *flakyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.handlers.Add(1)
	defer f.handlers.Done()
	switch f.mode.Load() {
	case mode500:
		http.Error(w, "oops", http.StatusInternalServerError)
		return
	case mode429:
		w.Header().Set("Retry-After", "1") // clamped by the sender
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	}
	f.recv.ServeHTTP(w, r)
}

func (f *flakyServer) start(l net.Listener) {
	srv := &http.Server{Handler: f}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	f.served.Go(func() { _ = srv.Serve(l) })
}

// down closes the listener and every connection at once.
func (f *flakyServer) down() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	f.served.Wait()
}

// up listens again on the same address.
func (f *flakyServer) up() {
	var l net.Listener
	var err error
	for range 50 { // the port may be briefly unavailable
		if l, err = net.Listen("tcp", f.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(f.t, err)
	f.start(l)
}

func (f *flakyServer) stop() {
	f.down()
	f.handlers.Wait()
}

// handled returns the events handled so far.
func (f *flakyServer) handled() ([]int, map[int]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(map[int]int, len(f.counts))
	for k, v := range f.counts {
		c[k] = v
	}
	return append([]int(nil), f.got...), c
}

// waitHandled waits until n events are handled or the deadline passes.
func (f *flakyServer) waitHandled(n int, deadline time.Duration) bool {
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		f.mu.Lock()
		l := len(f.got)
		f.mu.Unlock()
		if l >= n {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

func eventData(n int) []byte { return []byte(`{"n":` + strconv.Itoa(n) + `}`) }

// runDispatcher runs d until the returned stop function is called.
func runDispatcher(d *Dispatcher) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return func() error {
		cancel()
		err := <-done
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
}
