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

// RunInstances runs two Dispatchers as two processes would: each on its
// own handle of the store (its own connections), the Receiver
// deduplicating through the backend's IdempotencyStore. One dies
// mid-stream: from then on every call of its store fails, so it neither
// stores its position nor gives its lease back, and its POST in flight is
// cut off. The other, idle while the first holds the lease, takes over
// once the lease expires, and the Receiver's handler sees each of a
// thousand events exactly once and in order, under the messages' own
// webhook-ids. RunDispatcher checks the rest of what a Dispatcher
// promises on a store.
//
// newStorage is called once and returns storage shared with nothing
// else; idempotency, when not nil, returns the Receiver's
// IdempotencyStore on the same backend (nil means the Receiver's memory
// store).
func RunInstances(t *testing.T, newStorage func(tb testing.TB) Storage, idempotency func(tb testing.TB) webhook.IdempotencyStore) {
	t.Helper()
	var idem webhook.IdempotencyStore
	if idempotency != nil {
		idem = idempotency(t)
	}
	testFailover(t, newStorage(t), idem)
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
// "n" of their data.
type sink struct {
	srv  *httptest.Server
	keys webhook.Keyring

	mu    sync.Mutex
	got   []int
	ids   []string
	posts atomic.Int64
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

// start runs d until the returned stop is called, which waits for Run to
// return and reports its error.
func start(t *testing.T, d *webhook.Dispatcher) (stop func()) {
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

// waitFor polls cond until it holds or a minute passed; then it fails
// the test with what, and detail when given.
func waitFor(t *testing.T, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			for _, d := range detail {
				what += "; " + d()
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// publishEvents publishes the events from to to (excluded) on topic "orders".
func publishEvents(b bus.Broker, from, to int) ([]bus.Message, error) {
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
	stopA := start(t, dispatcher(t, b, a, "instance-a", &postsA, 10*time.Millisecond, 50*time.Millisecond))
	// The stream runs while the instances come and go.
	published := make(chan []bus.Message, 1)
	publishErr := make(chan error, 1)
	go func() {
		var all []bus.Message
		for n := 0; n < events; n += 10 {
			msgs, err := publishEvents(b, n, n+10)
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
	stopB := start(t, dB)
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
	var msgs []bus.Message
	select {
	case msgs = <-published:
	case err := <-publishErr:
		t.Fatal(err)
	}
	waitFor(t, "every event", func() bool {
		got, _ := sk.handled()
		if dls, _ := admin.ListDeadLetters(ctx, webhook.DeadLetterQuery{}); len(dls) > 0 {
			t.Fatalf("%d events handled, dead letter %s: %s", len(got), dls[0].Delivery, dls[0].Error)
		}
		return len(got) >= events
	}, func() string {
		got, _ := sk.handled()
		return fmt.Sprintf("%d events handled, %d POSTs by B; B's endpoints: %+v", len(got), postsB.Load(), dB.Statuses())
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
	// Every POST the Receiver saw came from A or B; A's POST in flight
	// when it died may have been cut off before it arrived.
	sent, arrived := postsA.Load()+postsB.Load(), sk.posts.Load()
	assert.LessOrEqual(t, arrived, sent, "the Receiver saw no POST that A or B did not send")
	assert.GreaterOrEqual(t, arrived, sent-1, "only A's POST in flight may be lost")
	t.Logf("A handled %d events before it died; POSTs: %d by A, %d by B, for %d events", len(atKill), postsA.Load(), postsB.Load(), events)
	cur, err := admin.Load(ctx, "shop|orders")
	require.NoError(t, err)
	assert.Equal(t, msgs[events-1].ID, cur, "B stored the last position")
}
