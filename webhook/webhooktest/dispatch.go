package webhooktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Storage opens handles on one store: every call returns a new handle
// (its own connections, as another process would have) on the same data.
type Storage func() webhook.Store

// RunDispatch runs Dispatchers on a store end to end: two instances
// sharing it, one killed mid-stream, deliver each of a thousand events
// exactly once and in order to a Receiver; Recover redelivers exactly the
// deliveries that failed since a time; an endpoint's rate limit, read from
// the store, holds within 10 %; and an endpoint whose receiver hangs does
// not hold up another. newStorage is called once per
// test and returns storage that shares nothing with earlier ones;
// idempotency, when not nil, returns the Receiver's IdempotencyStore on the
// same backend (nil means the Receiver's memory store).
func RunDispatch(t *testing.T, newStorage func(tb testing.TB) Storage, idempotency func(tb testing.TB) webhook.IdempotencyStore) {
	t.Helper()
	if idempotency == nil {
		idempotency = func(testing.TB) webhook.IdempotencyStore { return nil }
	}
	t.Run("FailoverExactlyOnceInOrder", func(t *testing.T) { testFailover(t, newStorage(t), idempotency(t)) })
	t.Run("RecoverSince", func(t *testing.T) { testRecover(t, newStorage(t), idempotency(t)) })
	t.Run("RateLimit", func(t *testing.T) { testRateLimit(t, newStorage(t)) })
	t.Run("FailingEndpointIsolated", func(t *testing.T) { testIsolation(t, newStorage(t)) })
}

// killable is one instance's view of the store. Once killed, every call
// fails, as for a process that died: in particular its leases are never
// released, so another instance takes over only once they expire.
type killable struct {
	webhook.Store
	dead atomic.Bool
}

var errKilled = errors.New("webhooktest: instance killed")

func (k *killable) check() error {
	if k.dead.Load() {
		return errKilled
	}
	return nil
}

func (k *killable) Load(ctx context.Context, key string) (string, error) {
	if err := k.check(); err != nil {
		return "", err
	}
	return k.Store.Load(ctx, key)
}

func (k *killable) Save(ctx context.Context, key, cursor string) error {
	if err := k.check(); err != nil {
		return err
	}
	return k.Store.Save(ctx, key, cursor)
}

func (k *killable) AcquireLease(ctx context.Context, key, holder string, ttl time.Duration) (bool, error) {
	if err := k.check(); err != nil {
		return false, err
	}
	return k.Store.AcquireLease(ctx, key, holder, ttl)
}

func (k *killable) ReleaseLease(ctx context.Context, key, holder string) error {
	if err := k.check(); err != nil {
		return err
	}
	return k.Store.ReleaseLease(ctx, key, holder)
}

// sink is a Receiver that records the events its handler ran, by the
// "n" of their data; fail, when set, makes the handler fail for some n.
type sink struct {
	srv  *httptest.Server
	keys webhook.Keyring

	mu    sync.Mutex
	got   []int
	ids   []string
	posts atomic.Int64
	fail  func(n int) bool
}

func newSink(t *testing.T, idem webhook.IdempotencyStore) *sink {
	t.Helper()
	secret, err := webhook.ParseSecret(Secret)
	require.NoError(t, err)
	s := &sink{keys: webhook.Secrets(secret)}
	r := &webhook.Receiver{
		Keys:        s.keys,
		Idempotency: idem,
		Handler: func(_ context.Context, e *webhook.Event) error {
			p, err := webhook.ParsePayload(e.Body)
			if err != nil {
				return err
			}
			var data struct{ N int }
			if err := json.Unmarshal(p.Data, &data); err != nil {
				return err
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.fail != nil && s.fail(data.N) {
				return fmt.Errorf("refusing event %d", data.N)
			}
			s.got = append(s.got, data.N)
			s.ids = append(s.ids, e.ID)
			return nil
		},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.posts.Add(1)
		r.ServeHTTP(w, req)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) handled() ([]int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got), slices.Clone(s.ids)
}

func (s *sink) setFail(f func(int) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = f
}

// endpoint is the registry entry of the scenarios: the whole history of
// topic "orders" to the sink.
func (s *sink) endpoint() webhook.EndpointConfig {
	c := Config("shop")
	c.URL, c.Topic, c.From = s.srv.URL, "orders", bus.Oldest
	return c
}

// counting is a transport that counts the requests of one instance.
type counting struct {
	n  *atomic.Int64
	rt http.RoundTripper
}

func (c counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// dispatcher is one instance on store, counting its POSTs in posts.
func dispatcher(t *testing.T, b bus.Broker, store webhook.Store, instance string, posts *atomic.Int64, schedule ...time.Duration) *webhook.Dispatcher {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &webhook.Dispatcher{
		Broker:       b,
		Store:        store,
		Instance:     instance,
		LeaseTTL:     LeaseTTL,
		RegistryPoll: 20 * time.Millisecond,
		Sender: &webhook.Sender{
			Client:   &http.Client{Transport: counting{posts, tr}},
			Schedule: schedule, Jitter: -1,
		},
	}
}

// run starts d until the returned stop is called, which waits for Run to
// return and reports its error.
func run(t *testing.T, d *webhook.Dispatcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds or a minute passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// publish publishes the events from to to (excluded) on topic "orders".
func publish(b bus.Broker, from, to int) ([]bus.Message, error) {
	var out []bus.Message
	for n := from; n < to; n++ {
		m, err := b.Publish(context.Background(), "orders", bus.Message{Type: "order.created", Data: fmt.Appendf(nil, `{"n":%d}`, n)})
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
	return out, nil
}

func mustPublish(t *testing.T, b bus.Broker, from, to int) []bus.Message {
	t.Helper()
	msgs, err := publish(b, from, to)
	require.NoError(t, err)
	return msgs
}

const events = 1000

func testFailover(t *testing.T, storage Storage, idem webhook.IdempotencyStore) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := &bus.Memory{HistorySize: 2 * events}
	defer b.Close()
	sk := newSink(t, idem)
	admin := storage()
	_, err := admin.PutEndpoint(ctx, sk.endpoint())
	require.NoError(t, err)

	a := &killable{Store: storage()}
	var postsA, postsB atomic.Int64
	stopA := run(t, dispatcher(t, b, a, "instance-a", &postsA, 10*time.Millisecond, 50*time.Millisecond))
	// The stream runs while the instances come and go.
	published := make(chan []bus.Message, 1)
	publishErr := make(chan error, 1)
	go func() {
		var all []bus.Message
		for n := 0; n < events; n += 10 {
			msgs, err := publish(b, n, n+10)
			if err != nil {
				publishErr <- err
				return
			}
			all = append(all, msgs...)
			time.Sleep(time.Millisecond)
		}
		published <- all
	}()
	waitFor(t, "instance A to deliver a third", func() bool { got, _ := sk.handled(); return len(got) >= events/3 })
	dB := dispatcher(t, b, &killable{Store: storage()}, "instance-b", &postsB, 10*time.Millisecond, 50*time.Millisecond)
	stopB := run(t, dB)
	defer stopB()
	// B runs beside A for a while, and A's lease keeps it idle.
	before, _ := sk.handled()
	waitFor(t, "instance A to deliver more", func() bool { got, _ := sk.handled(); return len(got) >= len(before)+100 })
	assert.Zero(t, postsB.Load(), "B posts nothing while A holds the lease")
	// A dies: its store calls fail from now on, so it neither saves its
	// position nor releases its lease; B takes over once the lease
	// expires, from the last position A stored.
	a.dead.Store(true)
	stopA()
	atKill, _ := sk.handled()
	postsAtKill := postsA.Load()
	var msgs []bus.Message
	select {
	case msgs = <-published:
	case err := <-publishErr:
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	waitFor(t, "every event", func() bool {
		got, _ := sk.handled()
		if len(got) >= events {
			return true
		}
		if time.Now().After(deadline) {
			st := dB.Statuses()
			t.Fatalf("%d events handled, %d POSTs by B; B's endpoints: %+v", len(got), postsB.Load(), st)
		}
		if dls, _ := admin.ListDeadLetters(ctx, webhook.DeadLetterQuery{}); len(dls) > 0 {
			t.Fatalf("%d events handled, dead letter %s: %s", len(got), dls[0].Delivery, dls[0].Error)
		}
		return false
	})
	// Give a stray duplicate time to show.
	time.Sleep(2 * LeaseTTL)

	got, ids := sk.handled()
	want := make([]int, events)
	wantIDs := make([]string, events)
	for i := range want {
		want[i] = i
		wantIDs[i] = webhook.MessageID(msgs[i])
	}
	require.Equal(t, want, got, "each event handled exactly once, in order")
	assert.Equal(t, wantIDs, ids, "webhook-ids are the messages' own")
	assert.Less(t, len(atKill), events, "A was killed before the end of the stream")
	assert.Equal(t, postsAtKill, postsA.Load(), "A posts nothing once dead")
	assert.Equal(t, sk.posts.Load(), postsA.Load()+postsB.Load())
	t.Logf("A handled %d events before it died; POSTs: %d by A, %d by B, for %d events", len(atKill), postsA.Load(), postsB.Load(), events)
	cur, err := admin.Load(ctx, "shop|orders")
	require.NoError(t, err)
	assert.Equal(t, msgs[events-1].ID, cur, "B stored the last position")
}

func testRecover(t *testing.T, storage Storage, idem webhook.IdempotencyStore) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := &bus.Memory{}
	defer b.Close()
	sk := newSink(t, idem)
	store := storage()
	_, err := store.PutEndpoint(ctx, sk.endpoint())
	require.NoError(t, err)
	failing := func(n int) bool { return n%7 == 3 }
	sk.setFail(failing)
	var posts atomic.Int64
	d := dispatcher(t, b, store, "instance-r", &posts, time.Millisecond)
	run(t, d)

	// settled waits until every event up to n was handled or
	// dead-lettered.
	settled := func(msgs []bus.Message) {
		waitFor(t, "the batch to settle", func() bool {
			cur, err := store.Load(ctx, "shop|orders")
			return err == nil && cur == msgs[len(msgs)-1].ID
		})
	}
	var failedBefore, failedAfter []string
	var wantAfter []int
	first := mustPublish(t, b, 0, 50)
	for i, m := range first {
		if failing(i) {
			failedBefore = append(failedBefore, webhook.MessageID(m))
		}
	}
	settled(first)
	time.Sleep(5 * time.Millisecond)
	since := time.Now()
	second := mustPublish(t, b, 50, 100)
	for i, m := range second {
		if failing(50 + i) {
			failedAfter = append(failedAfter, webhook.MessageID(m))
			wantAfter = append(wantAfter, 50+i)
		}
	}
	settled(second)

	dls, err := store.ListDeadLetters(ctx, webhook.DeadLetterQuery{Endpoint: "shop"})
	require.NoError(t, err)
	require.Equal(t, append(slices.Clone(failedBefore), failedAfter...), deliveriesOf(dls), "every failed delivery is a dead letter")
	attempts, err := store.ListAttempts(ctx, webhook.AttemptQuery{Endpoint: "shop", Since: since, FailedOnly: true})
	require.NoError(t, err)
	assert.Len(t, attempts, 2*len(failedAfter), "two failed attempts per dead letter since T")

	gotBefore, _ := sk.handled()
	sk.setFail(nil)
	n, err := d.Recover(ctx, "shop", since)
	require.NoError(t, err)
	assert.Equal(t, len(failedAfter), n)
	got, ids := sk.handled()
	assert.Equal(t, wantAfter, got[len(gotBefore):], "exactly the failed set since T, in order")
	assert.Equal(t, failedAfter, ids[len(gotBefore):], "with the original webhook-ids")

	dls, err = store.ListDeadLetters(ctx, webhook.DeadLetterQuery{Endpoint: "shop"})
	require.NoError(t, err)
	assert.Equal(t, failedBefore, deliveriesOf(dls), "the dead letters before T stay")
}

func deliveriesOf(dls []webhook.DeadLetter) []string {
	out := make([]string, len(dls))
	for i, dl := range dls {
		out[i] = dl.Delivery
	}
	return out
}

// stamps is a receiver that records when each event arrived; hang, when
// not nil, holds every request until it is closed.
type stamps struct {
	mu   sync.Mutex
	at   []time.Time
	hang chan struct{}
}

func (s *stamps) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.hang != nil {
		select {
		case <-s.hang:
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	s.at = append(s.at, time.Now())
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *stamps) times() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.at)
}

// stampEndpoint puts an endpoint of topic "orders" to rcv in the store.
func stampEndpoint(t *testing.T, store webhook.Store, id string, rcv http.Handler, edit func(*webhook.EndpointConfig)) {
	t.Helper()
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	c := Config(id)
	c.URL, c.Topic, c.From = srv.URL, "orders", bus.Oldest
	if edit != nil {
		edit(&c)
	}
	_, err := store.PutEndpoint(context.Background(), c)
	require.NoError(t, err)
}

// testRateLimit checks that deliveries to an endpoint never go faster than
// its RateLimit allows (the rate over the whole run within 10 %, burst
// included). A loaded machine only slows them, so the bound is an upper
// one.
func testRateLimit(t *testing.T, storage Storage) {
	const (
		rate   = 40.0
		burst  = 4
		events = 60
	)
	b := &bus.Memory{}
	defer b.Close()
	store := storage()
	rcv := &stamps{}
	stampEndpoint(t, store, "limited", rcv, func(c *webhook.EndpointConfig) { c.RateLimit, c.Burst = rate, burst })
	mustPublish(t, b, 0, events)
	var posts atomic.Int64
	run(t, dispatcher(t, b, store, "instance-l", &posts, 10*time.Millisecond))
	waitFor(t, "every event", func() bool { return len(rcv.times()) >= events })
	at := rcv.times()
	require.Len(t, at, events)
	// After the burst, each delivery waits for a token: from the first
	// delivery to the last cannot take less than (events-burst)/rate.
	elapsed := at[len(at)-1].Sub(at[0])
	least := time.Duration(float64(events-burst) / rate * float64(time.Second))
	assert.GreaterOrEqual(t, elapsed, least*9/10, "%d deliveries at %.0f/s with a burst of %d took %v", events, rate, burst, elapsed)
	t.Logf("%d deliveries at %.0f/s (burst %d) in %v: %.1f/s after the burst", events, rate, burst, elapsed, float64(events-burst)/elapsed.Seconds())
}

// testIsolation checks that an endpoint whose receiver hangs does not hold
// up another endpoint of the same Dispatcher: the healthy one gets every
// event while the hanging one has not finished its first.
func testIsolation(t *testing.T, storage Storage) {
	const events = 100
	b := &bus.Memory{}
	defer b.Close()
	store := storage()
	stuck := &stamps{hang: make(chan struct{})}
	healthy := &stamps{}
	stampEndpoint(t, store, "stuck", stuck, nil)
	stampEndpoint(t, store, "healthy", healthy, nil)
	mustPublish(t, b, 0, events)
	var posts atomic.Int64
	stop := run(t, dispatcher(t, b, store, "instance-i", &posts, time.Hour))
	waitFor(t, "the healthy endpoint", func() bool { return len(healthy.times()) >= events })
	assert.Empty(t, stuck.times(), "the hanging endpoint is still on its first event")
	stop()
	close(stuck.hang)
}
