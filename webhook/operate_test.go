package webhook

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitTimeout bounds the waits of these tests for something to happen; it
// never measures speed.
const waitTimeout = 60 * time.Second

// eventually waits until cond holds, failing the test after waitTimeout.
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

// opsConfig is the registry form of an endpoint on srv, signed with keys'
// secret k1.
func opsConfig(id, url string) EndpointConfig {
	return EndpointConfig{ID: id, URL: url, Topic: "nums", From: bus.Oldest,
		Secrets: []SecretConfig{{Secret: Secret("k1").Encode()}}}
}

func TestRecoverStopsAtTheFirstFailure(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	keys := Secrets(Secret("k1"))
	f := newFlakyServer(t, keys)
	d := &Dispatcher{Broker: b, Sender: fastSender(1), BreakerThreshold: 1 << 20}
	require.NoError(t, d.Add(Endpoint{ID: "shop", URL: f.URL(), Keys: keys, Topic: "nums", From: bus.Oldest}))
	stop := runDispatcher(d)
	defer func() { require.NoError(t, stop()) }()
	f.mode.Store(mode500)
	publish(t, b, "nums", 0, 3, evenOdd)
	eventually(t, "dead letters", func() bool { return len(d.DeadLetters()) == 3 })
	n, err := d.Recover(context.Background(), "shop", time.Time{})
	assert.ErrorIs(t, err, ErrExhausted)
	assert.Zero(t, n)
	dl := d.DeadLetters()
	require.Len(t, dl, 3, "still dead, the first one dead-lettered anew")
	assert.Equal(t, eventData(0), dl[2].Message.Data, "the first message is now the newest dead letter")
	f.mode.Store(modeOK)
	n, err = d.Recover(context.Background(), "shop", time.Time{})
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	got, _ := f.handled()
	assert.Equal(t, []int{1, 2, 0}, got, "in dead-letter order")
}

func TestTokenBucket(t *testing.T) {
	now := time.Unix(0, 0)
	tb := newTokenBucket(10, 3, func() time.Time { return now })
	for range 3 {
		assert.Zero(t, tb.reserve(), "the burst goes at once")
	}
	assert.Equal(t, 100*time.Millisecond, tb.reserve())
	assert.Equal(t, 200*time.Millisecond, tb.reserve(), "waiters queue")
	now = now.Add(time.Second)
	// 10 tokens refilled, 2 were owed, capped at the burst.
	assert.Zero(t, tb.reserve())
	assert.Zero(t, tb.reserve())
	assert.Zero(t, tb.reserve())
	assert.Equal(t, 100*time.Millisecond, tb.reserve())
	assert.Nil(t, newTokenBucket(0, 5, time.Now), "no rate, no limit")
	assert.Equal(t, 3.0, newTokenBucket(2.5, 0, time.Now).burst, "burst defaults to ceil(rate)")
	assert.Equal(t, 1.0, newTokenBucket(0.5, 0, time.Now).burst)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := newTokenBucket(0.001, 1, time.Now)
	require.NoError(t, slow.wait(ctx), "a token is there")
	assert.ErrorIs(t, slow.wait(ctx), context.Canceled)
	assert.InDelta(t, 0.0, slow.tokens, 1e-6, "a waiter that gave up gives its token back")
}

func TestRegistryFollowedLive(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	keys := Secrets(Secret("k1"))
	one, two := newFlakyServer(t, keys), newFlakyServer(t, keys)
	store := NewMemoryStore()
	ctx := context.Background()
	d := &Dispatcher{Broker: b, Sender: fastSender(5), Store: store, RegistryPoll: 20 * time.Millisecond}
	stop := runDispatcher(d)
	defer func() { require.NoError(t, stop()) }()

	// Changes made in the store are followed within RegistryPoll (see
	// webhooktest.RunDispatcher); changes made through the Dispatcher
	// apply before its method returns.
	c, err := d.PutEndpoint(ctx, opsConfig("shop", one.URL()))
	require.NoError(t, err)
	st, err := d.Status("shop")
	require.NoError(t, err)
	assert.Equal(t, c.Version, st.Version, "applied before PutEndpoint returns")
	publish(t, b, "nums", 0, 3, evenOdd)
	require.True(t, one.waitHandled(3, waitTimeout))
	c.Disabled = true
	_, err = d.PutEndpoint(ctx, c)
	require.NoError(t, err)
	st, err = d.Status("shop")
	require.NoError(t, err)
	assert.True(t, st.Disabled)
	assert.False(t, st.Running, "stopped before PutEndpoint returns")
	require.NoError(t, d.Enable("shop"), "Enable of an endpoint of the Registry enables it there")
	c, err = store.GetEndpoint(ctx, "shop")
	require.NoError(t, err)
	assert.False(t, c.Disabled)

	// Deleted through this Dispatcher: gone at once.
	require.NoError(t, d.DeleteEndpoint(ctx, "shop"))
	_, err = d.Status("shop")
	assert.ErrorIs(t, err, ErrUnknownEndpoint)
	assert.ErrorIs(t, d.DeleteEndpoint(ctx, "shop"), ErrEndpointNotFound)

	// Created through this Dispatcher: at once.
	_, err = d.PutEndpoint(ctx, opsConfig("new", one.URL()))
	require.NoError(t, err)
	_, err = d.Status("new")
	assert.NoError(t, err)
	_, err = d.PutEndpoint(ctx, opsConfig("bad", "ftp://x"))
	assert.ErrorIs(t, err, ErrInvalidEndpoint)

	// An endpoint of Add is not replaced by the Registry's of that ID.
	require.NoError(t, d.Add(Endpoint{ID: "code", URL: one.URL(), Keys: keys, Topic: "nums"}))
	_, err = store.PutEndpoint(ctx, opsConfig("code", two.URL()))
	require.NoError(t, err)
	require.NoError(t, d.sync(ctx, true))
	d.mu.Lock()
	assert.Nil(t, d.endpoints["code"].config, "the endpoint of Add stays")
	d.mu.Unlock()
	assert.Error(t, d.Remove("new"), "an endpoint of the Registry is deleted there")
}

func TestGoneDisablesInRegistry(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	var calls atomic.Int32
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusGone)
	}))
	defer gone.Close()
	store := NewMemoryStore()
	d := &Dispatcher{Broker: b, Sender: fastSender(3), Store: store, RegistryPoll: 20 * time.Millisecond}
	_, err := d.PutEndpoint(context.Background(), opsConfig("shop", gone.URL))
	require.NoError(t, err)
	publish(t, b, "nums", 0, 2, evenOdd)
	stop := runDispatcher(d)
	defer func() { require.NoError(t, stop()) }()
	eventually(t, "disabled in the registry", func() bool {
		c, err := store.GetEndpoint(context.Background(), "shop")
		return err == nil && c.Disabled
	})
	assert.Equal(t, int32(1), calls.Load(), "one attempt, no retry of a 410")
	dis, err := d.Disabled("shop")
	require.NoError(t, err)
	assert.True(t, dis)
}

func TestReplaySendsOriginalIDs(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	var mu sync.Mutex
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get(HeaderID))
		mu.Unlock()
	}))
	defer srv.Close()
	keys := Secrets(Secret("k1"))
	d := &Dispatcher{Broker: b, Sender: fastSender(3)}
	require.NoError(t, d.Add(Endpoint{ID: "evens", URL: srv.URL, Keys: keys, Topic: "nums", Types: []string{"num.even"}}))
	var msgs []bus.Message
	for n := range 10 {
		m, err := b.Publish(context.Background(), "nums", bus.Message{Type: evenOdd(n), Data: eventData(n)})
		require.NoError(t, err)
		msgs = append(msgs, m)
	}
	n, err := d.Replay(context.Background(), "evens", msgs[1].ID, msgs[6].ID)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "2, 4, 6")
	mu.Lock()
	assert.Equal(t, []string{MessageID(msgs[2]), MessageID(msgs[4]), MessageID(msgs[6])}, ids)
	mu.Unlock()
	var progress []int
	ctx := WithProgress(context.Background(), func(n int) { progress = append(progress, n) })
	n, err = d.Replay(ctx, "evens", bus.Oldest, "")
	require.NoError(t, err)
	assert.Equal(t, 5, n, "the whole history")
	assert.Equal(t, []int{1, 2, 3, 4, 5}, progress, "WithProgress sees each delivery")
	_, err = d.Replay(context.Background(), "evens", bus.Oldest, "nonsense")
	assert.Error(t, err)
	_, err = d.Replay(context.Background(), "nobody", bus.Oldest, "")
	assert.ErrorIs(t, err, ErrUnknownEndpoint)
	cur, err := d.cursors.Load(context.Background(), "evens|nums")
	require.NoError(t, err)
	assert.Empty(t, cur, "replay moves no cursor")
}

func TestRetentionPrunes(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	store := NewMemoryStore()
	ctx := context.Background()
	old := time.Now().Add(-2 * time.Hour)
	require.NoError(t, store.AddAttempt(ctx, Attempt{Endpoint: "shop", Delivery: "d", N: 1, At: old}))
	require.NoError(t, store.AddDeadLetter(ctx, DeadLetter{Endpoint: "shop", Delivery: "d", At: old}))
	require.NoError(t, store.AddAttempt(ctx, Attempt{Endpoint: "shop", Delivery: "e", N: 1, At: time.Now()}))
	d := &Dispatcher{Broker: b, Store: store, Retention: time.Hour}
	stop := runDispatcher(d)
	defer func() { require.NoError(t, stop()) }()
	eventually(t, "pruned", func() bool {
		l, _ := store.ListDeadLetters(ctx, DeadLetterQuery{})
		a, _ := store.ListAttempts(ctx, AttemptQuery{Endpoint: "shop"})
		return len(l) == 0 && len(a) == 1
	})
	a, _ := store.ListAttempts(ctx, AttemptQuery{Endpoint: "shop"})
	assert.Equal(t, "e", a[0].Delivery, "the recent attempt stays")
}

func TestEndpointMaxConcurrent(t *testing.T) {
	t.Parallel()
	const (
		limit  = 4
		events = 40
	)
	b := &bus.Memory{}
	defer b.Close()
	// Requests are let through in groups of limit: a group waits until it
	// is whole, so the endpoint sees limit requests at once or none pass.
	var (
		mu       sync.Mutex
		arrived  int
		inFlight int
		most     int
		gate     = make(chan struct{})
		ids      = map[string]int{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		inFlight++
		most = max(most, inFlight)
		ids[r.Header.Get(HeaderID)]++
		g := gate
		if arrived%limit == 0 {
			close(gate)
			gate = make(chan struct{})
		}
		mu.Unlock()
		select {
		case <-g:
		case <-time.After(waitTimeout):
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
	}))
	defer srv.Close()
	s := fastSender(3)
	s.Timeout = 2 * waitTimeout
	store := NewMemoryStore()
	d := &Dispatcher{Broker: b, Sender: s, Store: store}
	c := opsConfig("wide", srv.URL)
	c.MaxConcurrent = limit
	_, err := d.PutEndpoint(context.Background(), c)
	require.NoError(t, err)
	publish(t, b, "nums", 0, events, evenOdd)
	stop := runDispatcher(d)
	defer func() { require.NoError(t, stop()) }()
	top, err := b.Top(context.Background(), "nums")
	require.NoError(t, err)
	eventually(t, "cursor at the top", func() bool {
		c, _ := store.Load(context.Background(), "wide|nums")
		return c == top
	})
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, limit, most, "limit deliveries at once, never more")
	assert.Len(t, ids, events)
	for id, n := range ids {
		assert.Equal(t, 1, n, id)
	}
}

// revocable leases are held by whoever asks, except while revoked: then
// every AcquireLease answers false. It logs each answer.
type revocable struct {
	mu      sync.Mutex
	revoked int // answers of false still to give
	log     *[]string
}

func (r *revocable) AcquireLease(context.Context, string, string, time.Duration) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.revoked > 0 {
		r.revoked--
		*r.log = append(*r.log, "lost")
		return false, nil
	}
	*r.log = append(*r.log, "held")
	return true, nil
}

func (r *revocable) ReleaseLease(context.Context, string, string) error { return nil }

func TestLostLeaseStopsDelivery(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	var log []string
	leases := &revocable{log: &log}
	var fails atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leases.mu.Lock()
		log = append(log, "attempt")
		leases.mu.Unlock()
		if fails.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	fails.Store(1 << 20) // fail until told otherwise: attempts go on all the time
	d := &Dispatcher{Broker: b, Sender: fastSender(1 << 10), Leases: leases, LeaseTTL: 60 * time.Millisecond, BreakerThreshold: 1 << 20}
	require.NoError(t, d.Add(Endpoint{ID: "shop", URL: srv.URL, Keys: Secrets(Secret("k1")), Topic: "nums", From: bus.Oldest}))
	publish(t, b, "nums", 0, 1, evenOdd)
	stop := runDispatcher(d)
	defer func() { require.NoError(t, stop()) }()
	count := func(what string) int {
		leases.mu.Lock()
		defer leases.mu.Unlock()
		n := 0
		for _, l := range log {
			if l == what {
				n++
			}
		}
		return n
	}
	eventually(t, "attempts", func() bool { return count("attempt") >= 3 })
	leases.mu.Lock()
	leases.revoked = 5
	leases.mu.Unlock()
	eventually(t, "lease back", func() bool { return count("lost") == 5 && count("held") > 2 })
	fails.Store(0)
	top, _ := b.Top(context.Background(), "nums")
	eventually(t, "delivered", func() bool {
		st, err := d.Status("shop")
		return err == nil && st.Cursor == top && st.Leased
	})

	leases.mu.Lock()
	defer leases.mu.Unlock()
	first := slices.Index(log, "lost")
	back := first + slices.Index(log[first:], "held")
	require.Greater(t, back, first)
	during := 0
	for _, l := range log[first:back] {
		if l == "attempt" {
			during++
		}
	}
	assert.LessOrEqual(t, during, 1, "no attempt starts without the lease (one may be in flight): %v", log[first:back])
}

func TestRedeliverFromStoreOnAnotherInstance(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	keys := Secrets(Secret("k1"))
	f := newFlakyServer(t, keys)
	store := NewMemoryStore()
	ctx := context.Background()
	d := &Dispatcher{Broker: b, Sender: fastSender(1), Store: store, BreakerThreshold: 1 << 20}
	_, err := d.PutEndpoint(ctx, opsConfig("shop", f.URL()))
	require.NoError(t, err)
	f.mode.Store(mode500)
	publish(t, b, "nums", 0, 1, evenOdd)
	stop := runDispatcher(d)
	var dead []DeadLetter
	eventually(t, "dead letter", func() bool {
		dead, _ = store.ListDeadLetters(ctx, DeadLetterQuery{Endpoint: "shop"})
		return len(dead) == 1
	})
	require.NoError(t, stop())
	f.mode.Store(modeOK)

	other := &Dispatcher{Broker: b, Sender: fastSender(1), Store: store} // never ran, knows nothing in memory
	assert.ErrorIs(t, other.Redeliver(ctx, "shop", "msg_unknown"), ErrUnknownDelivery)
	require.NoError(t, other.Redeliver(ctx, "shop", dead[0].Delivery))
	got, _ := f.handled()
	assert.Equal(t, []int{0}, got)
	left, err := store.ListDeadLetters(ctx, DeadLetterQuery{})
	require.NoError(t, err)
	assert.Empty(t, left, "removed from the store once delivered")
	assert.ErrorIs(t, other.Redeliver(ctx, "shop", dead[0].Delivery), ErrUnknownDelivery)
}

// An endpoint whose deliveries fail without a success for DisableAfter is
// disabled, in the Registry too, and OnError hears ErrFailing; the message
// it stopped at is not dead-lettered, and once enabled delivery resumes
// from it: every message once, in order. A negative DisableAfter never
// disables: the schedule runs out and the message is a dead letter.
func TestFailingTooLongDisables(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	keys := Secrets(Secret("k1"))
	srv := newFlakyServer(t, keys)
	srv.mode.Store(mode500)
	store := NewMemoryStore()
	ctx := context.Background()
	var failing atomic.Int32
	rec := &metricstest.Recorder{}
	d := &Dispatcher{Broker: b, Sender: fastSender(100), Store: store, RegistryPoll: 20 * time.Millisecond,
		BreakerThreshold: 1000, DisableAfter: 150 * time.Millisecond, Metrics: rec,
		OnError: func(id string, err error) {
			if id == "shop" && errors.Is(err, ErrFailing) {
				failing.Add(1)
			}
		}}
	_, err := d.PutEndpoint(ctx, opsConfig("shop", srv.URL()))
	require.NoError(t, err)
	publish(t, b, "nums", 0, 3, evenOdd)
	stop := runDispatcher(d)
	defer func() { require.NoError(t, stop()) }()
	eventually(t, "disabled in the registry", func() bool {
		c, err := store.GetEndpoint(ctx, "shop")
		return err == nil && c.Disabled
	})
	assert.Equal(t, int32(1), failing.Load())
	assert.Equal(t, 1, rec.Count(metrics.WebhookDisabled, metrics.Event{Topic: "nums", Outcome: metrics.ReasonFailing}))
	dls, err := store.ListDeadLetters(ctx, DeadLetterQuery{Endpoint: "shop"})
	require.NoError(t, err)
	assert.Empty(t, dls, "the message it stopped at is not a dead letter")
	eventually(t, "stopped", func() bool {
		st, err := d.Status("shop")
		return err == nil && st.Disabled && !st.Running
	})

	srv.mode.Store(modeOK)
	require.NoError(t, d.EnableEndpoint(ctx, "shop"))
	require.True(t, srv.waitHandled(3, waitTimeout))
	got, counts := srv.handled()
	assert.Equal(t, []int{0, 1, 2}, got, "resumed from the message it stopped at")
	for n, c := range counts {
		assert.Equal(t, 1, c, "message %d", n)
	}

	// Never: the schedule runs out instead.
	srv2 := newFlakyServer(t, keys)
	srv2.mode.Store(mode500)
	d2 := &Dispatcher{Broker: b, Sender: fastSender(30), BreakerThreshold: 1000, DisableAfter: -1}
	require.NoError(t, d2.Add(Endpoint{ID: "never", URL: srv2.URL(), Keys: keys, Topic: "nums", From: bus.Oldest}))
	stop2 := runDispatcher(d2)
	defer func() { require.NoError(t, stop2()) }()
	eventually(t, "a dead letter", func() bool { return len(d2.DeadLetters()) > 0 })
	dis, err := d2.Disabled("never")
	require.NoError(t, err)
	assert.False(t, dis)
}

// Deliveries that end at once, with an error no retry fixes (here the
// SSRF guard refusing loopback), count toward DisableAfter too: the first
// message is a dead letter, the one after DisableAfter stops the endpoint.
func TestFailingTooLongCountsFatalErrors(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	srv := newFlakyServer(t, Secrets(Secret("k1")))
	d := &Dispatcher{Broker: b, Sender: &Sender{Timeout: 100 * time.Millisecond}, DisableAfter: 50 * time.Millisecond}
	require.NoError(t, d.Add(Endpoint{ID: "guarded", URL: srv.URL(), Keys: Secrets(Secret("k1")), Topic: "nums"}))
	stop := runDispatcher(d)
	defer func() { require.NoError(t, stop()) }()
	eventually(t, "running", func() bool { st, err := d.Status("guarded"); return err == nil && st.Running })
	publish(t, b, "nums", 0, 1, evenOdd)
	eventually(t, "a dead letter", func() bool { return len(d.DeadLetters()) == 1 })
	time.Sleep(60 * time.Millisecond)
	publish(t, b, "nums", 1, 2, evenOdd)
	eventually(t, "disabled", func() bool { dis, err := d.Disabled("guarded"); return err == nil && dis })
	assert.Len(t, d.DeadLetters(), 1, "the message it stopped at is not a dead letter")
	assert.Contains(t, d.DeadLetters()[0].Error, "forbidden address")
}
