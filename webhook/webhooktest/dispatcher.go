package webhooktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitTimeout bounds every wait of RunDispatcher for something to happen;
// it never measures speed.
var waitTimeout = 2 * time.Minute

// RunDispatcher runs Dispatchers on stores made by newStore, with a
// bus.Memory, against Receivers on loopback, and checks what operating
// webhooks promises whatever the store:
//
//   - two instances share one store; one dies mid-stream (its context
//     ends and it releases no lease); 1,000 events reach the Receiver
//     each exactly once and in order, delivered by both instances;
//   - Recover since T redelivers exactly the dead letters since T, in
//     order, and leaves the older ones;
//   - a rate limit holds within 10 % under load: over every window from
//     the first arrival, at most Burst + RateLimit × window requests
//     arrive (counted, not timed);
//   - a failing endpoint and an endpoint whose attempt hangs do not delay
//     a healthy one, which gets every event while the stuck one's first
//     attempt still hangs;
//   - the Registry is followed live: endpoints created, updated, disabled
//     and deleted through the store start, restart and stop.
//
// The factory follows the rules of RunStore.
func RunDispatcher(t *testing.T, newStore func(tb testing.TB) webhook.Store) {
	t.Helper()
	s := &suite{newStore: newStore}
	runAll(t, []test{
		{"TwoInstancesOneDies", s.testOneDies},
		{"RecoverSince", s.testRecoverSince},
		{"RateLimit", s.testRateLimit},
		{"FailingEndpointDoesNotDelayHealthy", s.testIsolation},
		{"RegistryFollowedLive", s.testFollow},
	})
}

// A receiver is a webhook.Receiver on loopback that records the "n" of
// each event handled, in order; it answers 500 while failing.
type receiver struct {
	srv     *httptest.Server
	failing atomic.Bool
	mu      sync.Mutex
	got     []int
	counts  map[int]int
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	key, err := webhook.ParseSecret(Secret)
	require.NoError(t, err)
	r := &receiver{counts: map[int]int{}}
	rcv := &webhook.Receiver{Keys: webhook.Secrets(key), Handler: r.handle}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		rcv.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) handle(_ context.Context, e *webhook.Event) error {
	p, err := webhook.ParsePayload(e.Body)
	if err != nil {
		return err
	}
	var d struct{ N int }
	if err := json.Unmarshal(p.Data, &d); err != nil {
		return err
	}
	r.mu.Lock()
	r.got = append(r.got, d.N)
	r.counts[d.N]++
	r.mu.Unlock()
	return nil
}

func (r *receiver) handled() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.got...)
}

func (r *receiver) wait(t *testing.T, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d events handled", n), func() bool { return len(r.handled()) >= n })
}

// once checks that every event was handled exactly once.
func (r *receiver) once(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for n, c := range r.counts {
		assert.Equal(t, 1, c, "event %d handled %d times", n, c)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func seq(from, to int) []int {
	s := make([]int, 0, to-from)
	for n := from; n < to; n++ {
		s = append(s, n)
	}
	return s
}

func publish(t *testing.T, b bus.Broker, from, to int) {
	t.Helper()
	for n := from; n < to; n++ {
		_, err := b.Publish(context.Background(), "orders", bus.Message{Type: "order.paid", Data: fmt.Appendf(nil, `{"n":%d}`, n)})
		require.NoError(t, err)
	}
}

// sender retries quickly, on loopback.
func sender(retries int) *webhook.Sender {
	sched := make([]time.Duration, retries)
	for i := range sched {
		sched[i] = time.Duration(min(5*(i+1), 50)) * time.Millisecond
	}
	return &webhook.Sender{AllowPrivateNetworks: true, Timeout: 5 * time.Second, Schedule: sched}
}

// run runs d until the test ends or the returned function is called.
func run(t *testing.T, d *webhook.Dispatcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// endpoint is the configuration of an endpoint of the suite at url,
// following topic "orders" from its oldest message.
func endpoint(id, url string) webhook.EndpointConfig {
	c := Config(id)
	c.URL, c.From = url, bus.Oldest
	return c
}

// deadLeases is an instance that dies: it never gives a lease back.
type deadLeases struct{ webhook.Leases }

func (deadLeases) ReleaseLease(context.Context, string, string) error { return nil }

func (s *suite) testOneDies(t *testing.T) {
	const total = 1000
	st, ctx := s.store(t)
	b := &bus.Memory{HistorySize: 2 * total}
	defer b.Close()
	r := newReceiver(t)
	_, err := st.PutEndpoint(ctx, endpoint("shop", r.srv.URL))
	require.NoError(t, err)
	publish(t, b, 0, total)

	var byA, byB atomic.Int64
	instance := func(name string, ok *atomic.Int64) *webhook.Dispatcher {
		return &webhook.Dispatcher{
			Broker: b, Sender: sender(20), Store: st, Instance: name,
			LeaseTTL: LeaseTTL, RegistryPoll: 20 * time.Millisecond,
			OnAttempt: func(a webhook.Attempt) {
				if a.OK() {
					ok.Add(1)
				}
			},
		}
	}
	a := instance("a", &byA)
	a.Leases = deadLeases{st}
	stopA := run(t, a)
	eventually(t, "a delivers", func() bool { return byA.Load() > 0 })
	run(t, instance("b", &byB))
	r.wait(t, total/3)
	stopA() // dies mid-stream: its lease is not released
	r.wait(t, total)

	assert.Equal(t, seq(0, total), r.handled(), "every event once, in order")
	r.once(t)
	assert.Positive(t, byA.Load(), "a delivered")
	assert.Positive(t, byB.Load(), "b took over")
	top, err := b.Top(ctx, "orders")
	require.NoError(t, err)
	eventually(t, "cursor at the last event", func() bool {
		c, err := st.Load(ctx, "shop|orders")
		return err == nil && c == top
	})
}

func (s *suite) testRecoverSince(t *testing.T) {
	st, ctx := s.store(t)
	b := &bus.Memory{}
	defer b.Close()
	r := newReceiver(t)
	d := &webhook.Dispatcher{Broker: b, Sender: sender(1), Store: st, BreakerThreshold: 1 << 20}
	run(t, d)
	_, err := d.PutEndpoint(ctx, endpoint("shop", r.srv.URL))
	require.NoError(t, err)
	dead := func() []webhook.DeadLetter {
		l, err := st.ListDeadLetters(ctx, webhook.DeadLetterQuery{Endpoint: "shop"})
		require.NoError(t, err)
		return l
	}

	r.failing.Store(true)
	publish(t, b, 0, 5) // fail before T
	eventually(t, "first dead letters", func() bool { return len(dead()) == 5 })
	time.Sleep(5 * time.Millisecond) // T strictly after them, whatever the store's time resolution
	since := time.Now()
	publish(t, b, 5, 10) // fail since T
	eventually(t, "second dead letters", func() bool { return len(dead()) == 10 })
	r.failing.Store(false)
	publish(t, b, 10, 13) // delivered at once
	r.wait(t, 3)

	n, err := d.Recover(ctx, "shop", since)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	assert.Equal(t, []int{10, 11, 12, 5, 6, 7, 8, 9}, r.handled(), "exactly the set failed since T, in order")
	left := dead()
	assert.Len(t, left, 5, "the set failed before T stays")
	for _, dl := range left {
		assert.True(t, dl.At.Before(since), "%s dead-lettered at %v", dl.Delivery, dl.At)
	}

	n, err = d.Recover(ctx, "shop", time.Time{})
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	assert.Equal(t, []int{10, 11, 12, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4}, r.handled())
	r.once(t)
	assert.Empty(t, dead())

	failed, err := st.ListAttempts(ctx, webhook.AttemptQuery{Endpoint: "shop", FailedOnly: true, Limit: webhook.MaxQueryLimit})
	require.NoError(t, err)
	assert.Len(t, failed, 20, "two failed attempts per dead letter, in the attempt log")
	_, err = d.Recover(ctx, "nobody", time.Time{})
	assert.ErrorIs(t, err, webhook.ErrEndpointNotFound)
}

func (s *suite) testRateLimit(t *testing.T) {
	const (
		rate   = 100.0
		burst  = 5
		events = 200
	)
	st, ctx := s.store(t)
	b := &bus.Memory{}
	defer b.Close()
	var mu sync.Mutex
	var arrivals []time.Time
	limited := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
	}))
	defer limited.Close()
	free := newReceiver(t)
	d := &webhook.Dispatcher{Broker: b, Sender: sender(3), Store: st}
	c := endpoint("limited", limited.URL)
	c.RateLimit, c.Burst = rate, burst
	_, err := d.PutEndpoint(ctx, c)
	require.NoError(t, err)
	_, err = d.PutEndpoint(ctx, endpoint("free", free.srv.URL))
	require.NoError(t, err)
	// Load: every event waits before delivery starts, and another endpoint
	// takes them as fast as it can.
	publish(t, b, 0, events)
	run(t, d)
	eventually(t, "all delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(arrivals) >= events
	})
	free.wait(t, events)
	mu.Lock()
	defer mu.Unlock()
	for i := burst; i < len(arrivals); i += 10 {
		window := arrivals[i].Sub(arrivals[0]).Seconds()
		allowed := (burst + rate*window) * 1.1
		assert.LessOrEqual(t, float64(i+1), allowed, "%d requests in %.3fs", i+1, window)
	}
}

func (s *suite) testIsolation(t *testing.T) {
	const events = 100
	st, ctx := s.store(t)
	b := &bus.Memory{}
	defer b.Close()
	good, failing := newReceiver(t), newReceiver(t)
	failing.failing.Store(true)
	hang := make(chan struct{})
	var hanging atomic.Int32
	stuck := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		hanging.Add(1)
		<-hang
	}))
	defer stuck.Close()
	defer close(hang)
	snd := sender(1000)
	snd.Timeout = 5 * waitTimeout // the stuck endpoint's attempt hangs as long as the test wants
	var failed atomic.Int64
	// Two slots for three endpoints: the stuck one holds one of them.
	d := &webhook.Dispatcher{Broker: b, Sender: snd, Store: st, MaxConcurrent: 2, BreakerThreshold: 1 << 20,
		OnAttempt: func(a webhook.Attempt) {
			if a.Endpoint == "failing" {
				failed.Add(1)
			}
		}}
	for id, url := range map[string]string{"good": good.srv.URL, "failing": failing.srv.URL, "stuck": stuck.URL} {
		_, err := d.PutEndpoint(ctx, endpoint(id, url))
		require.NoError(t, err)
	}
	publish(t, b, 0, events)
	run(t, d)
	good.wait(t, events)
	assert.Equal(t, seq(0, events), good.handled(), "the healthy endpoint got everything, in order")
	assert.Equal(t, int32(1), hanging.Load(), "while the stuck endpoint's first attempt still hangs")
	assert.Positive(t, failed.Load(), "and the failing one failed beside it")
	assert.Empty(t, failing.handled())
}

func (s *suite) testFollow(t *testing.T) {
	st, ctx := s.store(t)
	b := &bus.Memory{}
	defer b.Close()
	one, two := newReceiver(t), newReceiver(t)
	d := &webhook.Dispatcher{Broker: b, Sender: sender(5), Store: st, RegistryPoll: 20 * time.Millisecond}
	run(t, d)
	status := func() (webhook.EndpointStatus, error) { return d.Status("shop") }
	// stored waits until the endpoint's stored cursor is the topic's top:
	// a restart before it resumes from an earlier cursor and delivers
	// again what the receiver has (at least once), which this test does
	// not look at.
	stored := func() {
		top, err := b.Top(ctx, "orders")
		require.NoError(t, err)
		eventually(t, "the cursor stored", func() bool {
			cur, err := st.Load(ctx, "shop|orders")
			return err == nil && cur == top
		})
	}

	// Created in the store (by another process, an admin API): followed.
	c, err := st.PutEndpoint(ctx, endpoint("shop", one.srv.URL))
	require.NoError(t, err)
	publish(t, b, 0, 3)
	one.wait(t, 3)
	stored()

	// Updated in the store: restarts on the new URL after its cursor.
	c.URL = two.srv.URL
	c, err = st.PutEndpoint(ctx, c)
	require.NoError(t, err)
	eventually(t, "restart with the new version", func() bool {
		s, err := status()
		return err == nil && s.Version == c.Version && s.Running
	})
	publish(t, b, 3, 6)
	two.wait(t, 3)
	stored()
	assert.Equal(t, []int{0, 1, 2}, one.handled())
	assert.Equal(t, []int{3, 4, 5}, two.handled(), "nothing twice, nothing lost")

	// Disabled in the store: stops; what is published meanwhile waits.
	c.Disabled = true
	_, err = st.PutEndpoint(ctx, c)
	require.NoError(t, err)
	eventually(t, "stopped", func() bool {
		s, err := status()
		return err == nil && s.Disabled && !s.Running
	})
	publish(t, b, 6, 8)
	assert.Len(t, two.handled(), 3, "nothing is delivered while disabled")

	// Enabled through the Dispatcher: at once, from where it stopped.
	require.NoError(t, d.EnableEndpoint(ctx, "shop"))
	two.wait(t, 5)
	assert.Equal(t, []int{3, 4, 5, 6, 7}, two.handled())

	// Deleted in the store: stops and is forgotten.
	require.NoError(t, st.DeleteEndpoint(ctx, "shop"))
	eventually(t, "forgotten", func() bool {
		_, err := status()
		return errors.Is(err, webhook.ErrUnknownEndpoint)
	})
	one.once(t)
	two.once(t)
}
