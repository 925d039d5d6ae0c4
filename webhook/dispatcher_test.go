package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fastSender retries quickly on loopback.
func fastSender(retries int) *Sender {
	sched := make([]time.Duration, retries)
	for i := range sched {
		sched[i] = time.Duration(min(5*(i+1), 50)) * time.Millisecond
	}
	return &Sender{AllowPrivateNetworks: true, Timeout: 100 * time.Millisecond, Schedule: sched, MaxRetryAfter: 20 * time.Millisecond}
}

func publish(t testing.TB, b bus.Broker, topic string, from, to int, typ func(int) string) {
	t.Helper()
	for n := from; n < to; n++ {
		_, err := b.Publish(context.Background(), topic, bus.Message{Type: typ(n), Data: eventData(n)})
		require.NoError(t, err)
	}
}

func seq(from, to, step int) []int {
	var s []int
	for n := from; n < to; n += step {
		s = append(s, n)
	}
	return s
}

func evenOdd(n int) string {
	if n%2 == 0 {
		return "num.even"
	}
	return "num.odd"
}

func TestDispatcherDeliversInOrderWithFilters(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	keys := Secrets(Secret("k1"))
	all, even := newFlakyServer(t, keys), newFlakyServer(t, keys)
	d := &Dispatcher{Broker: b, Sender: fastSender(10)}
	require.NoError(t, d.Add(Endpoint{ID: "all", URL: all.URL(), Keys: keys, Topic: "nums"}))
	require.NoError(t, d.Add(Endpoint{ID: "even", URL: even.URL(), Keys: keys, Topic: "nums", Types: []string{"num.even"}}))
	publish(t, b, "nums", 0, 5, evenOdd) // before Run: not delivered (new endpoints start at the top)
	stop := runDispatcher(d)
	defer func() { assert.NoError(t, stop()) }()
	require.Eventually(t, func() bool { // the endpoints have stored their starting cursor
		c1, _ := d.cursors.Load(context.Background(), "all|nums")
		c2, _ := d.cursors.Load(context.Background(), "even|nums")
		return c1 != "" && c2 != ""
	}, 5*time.Second, time.Millisecond)
	publish(t, b, "nums", 5, 105, evenOdd)
	require.True(t, all.waitHandled(100, 10*time.Second))
	require.True(t, even.waitHandled(50, 10*time.Second))
	got, _ := all.handled()
	assert.Equal(t, seq(5, 105, 1), got)
	got, _ = even.handled()
	assert.Equal(t, seq(6, 105, 2), got)

	var logs []DeliveryLog
	require.Eventually(t, func() bool { // the log is written after the answer
		logs, _ = d.Deliveries("all")
		return len(logs) == DefaultMaxLog && logs[len(logs)-1].State == Delivered
	}, 5*time.Second, time.Millisecond)
	last := logs[len(logs)-1]
	require.Len(t, last.Attempts, 1)
	assert.Equal(t, 200, last.Attempts[0].Status)
	assert.Equal(t, "msg_", last.ID[:4])
	_, err := d.Deliveries("nope")
	assert.ErrorIs(t, err, ErrUnknownEndpoint)
	assert.Error(t, d.Add(Endpoint{ID: "all", URL: all.URL(), Keys: keys, Topic: "nums"}), "duplicate id")
	assert.Error(t, d.Add(Endpoint{ID: "x", URL: "ftp://x", Keys: keys, Topic: "nums"}))
	assert.Error(t, d.Add(Endpoint{ID: "x", URL: all.URL(), Keys: keys, Topic: ""}))
	assert.ErrorIs(t, d.Add(Endpoint{ID: "x", URL: all.URL(), Topic: "nums"}), ErrNoKeys)
	assert.ErrorIs(t, d.Add(Endpoint{ID: "x", URL: all.URL(), Keys: keys, Topic: "nums", From: "nope"}), bus.ErrInvalidCursor)
}

func TestDispatcherResumesFromStoredCursor(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	keys := Secrets(Secret("k1"))
	srv := newFlakyServer(t, keys)
	cursors := &FileCursors{Dir: t.TempDir()}
	ep := Endpoint{ID: "ep", URL: srv.URL(), Keys: keys, Topic: "t"}
	// Position the endpoint at the top, as a first run does.
	top, err := b.Top(context.Background(), "t")
	require.NoError(t, err)
	require.NoError(t, cursors.Save(context.Background(), "ep|t", top))

	publish(t, b, "t", 0, 10, evenOdd)
	d1 := &Dispatcher{Broker: b, Sender: fastSender(10), Cursors: cursors}
	require.NoError(t, d1.Add(ep))
	stop := runDispatcher(d1)
	require.True(t, srv.waitHandled(10, 10*time.Second))
	require.NoError(t, stop())

	publish(t, b, "t", 10, 20, evenOdd) // while no dispatcher runs
	d2 := &Dispatcher{Broker: b, Sender: fastSender(10), Cursors: &FileCursors{Dir: cursors.Dir}}
	require.NoError(t, d2.Add(ep))
	stop = runDispatcher(d2)
	defer func() { assert.NoError(t, stop()) }()
	require.True(t, srv.waitHandled(20, 10*time.Second))
	got, _ := srv.handled()
	assert.Equal(t, seq(0, 20, 1), got)
}

func TestDispatcherGoneDeadLetterRedeliver(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	keys := Secrets(Secret("k1"))
	var status atomic.Int32
	status.Store(500)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	dead := make(chan DeadLetter, 10)
	d := &Dispatcher{Broker: b, Sender: fastSender(2), Cursors: &MemoryCursors{},
		OnDeadLetter: func(dl DeadLetter) { dead <- dl }}
	require.NoError(t, d.Add(Endpoint{ID: "ep", URL: srv.URL, Keys: keys, Topic: "t"}))
	require.NoError(t, d.cursors.Save(context.Background(), "ep|t", bus.Oldest))
	publish(t, b, "t", 0, 1, evenOdd)
	stop := runDispatcher(d)
	defer func() { assert.NoError(t, stop()) }()

	dl := <-dead
	assert.Len(t, dl.Attempts, 3)
	assert.Equal(t, MessageID(dl.Message), dl.Delivery)
	assert.Len(t, d.DeadLetters(), 1)
	logs, err := d.Deliveries("ep")
	require.NoError(t, err)
	assert.Equal(t, Dead, logs[0].State)
	assert.Len(t, logs[0].Attempts, 3)

	// Redeliver on demand once the endpoint works again.
	status.Store(204)
	require.NoError(t, d.Redeliver(context.Background(), "ep", dl.Delivery))
	assert.Empty(t, d.DeadLetters())
	logs, err = d.Deliveries("ep")
	require.NoError(t, err)
	require.Len(t, logs, 2)
	assert.Equal(t, Delivered, logs[1].State)
	assert.ErrorIs(t, d.Redeliver(context.Background(), "ep", dl.Delivery), ErrUnknownDelivery)

	// 410 disables the endpoint; nothing more is attempted.
	status.Store(410)
	publish(t, b, "t", 1, 3, evenOdd)
	require.Eventually(t, func() bool { off, _ := d.Disabled("ep"); return off }, 5*time.Second, time.Millisecond)
	n := hits.Load()
	status.Store(204)
	publish(t, b, "t", 3, 4, evenOdd)
	time.Sleep(50 * time.Millisecond) // give a wrongly running endpoint the chance to send
	assert.Equal(t, n, hits.Load())

	// Enable resumes with the refused message.
	require.NoError(t, d.Enable("ep"))
	require.Eventually(t, func() bool {
		logs, _ = d.Deliveries("ep")
		return len(logs) == 6 && logs[5].State == Delivered // the redelivery has its log too
	}, 5*time.Second, time.Millisecond)
	assert.Equal(t, n+3, hits.Load(), "the refused message, then the two others")
}

func TestDispatcherDeadEndpointDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	keys := Secrets(Secret("k1"))
	hang := make(chan struct{})
	deadSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer deadSrv.Close()
	defer close(hang)
	live := newFlakyServer(t, keys)
	var deadAttempts atomic.Int32
	d := &Dispatcher{Broker: b, Sender: fastSender(1000), MaxConcurrent: 1,
		BreakerThreshold: 2, BreakerCooldown: time.Hour,
		OnAttempt: func(a Attempt) {
			if a.Endpoint == "dead" {
				deadAttempts.Add(1)
			}
		}}
	require.NoError(t, d.Add(Endpoint{ID: "dead", URL: deadSrv.URL, Keys: keys, Topic: "t"}))
	require.NoError(t, d.Add(Endpoint{ID: "live", URL: live.URL(), Keys: keys, Topic: "t"}))
	for _, id := range []string{"dead", "live"} {
		top, err := b.Top(context.Background(), "t")
		require.NoError(t, err)
		require.NoError(t, d.cursors.Save(context.Background(), id+"|t", top))
	}
	stop := runDispatcher(d)
	defer func() { assert.NoError(t, stop()) }()
	publish(t, b, "t", 0, 50, evenOdd)
	// Even with one slot in all, the live endpoint gets everything: the
	// dead one's circuit opened after two timeouts and holds no slot.
	require.True(t, live.waitHandled(50, 10*time.Second))
	require.Eventually(t, func() bool { return deadAttempts.Load() == 2 }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // an open circuit makes no attempt
	assert.Equal(t, int32(2), deadAttempts.Load())
}

func TestDispatcherExpiredCursorAndRemove(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{HistorySize: 5}
	defer b.Close()
	keys := Secrets(Secret("k1"))
	srv := newFlakyServer(t, keys)
	first, err := b.Publish(context.Background(), "t", bus.Message{Data: eventData(0)})
	require.NoError(t, err)
	publish(t, b, "t", 1, 20, evenOdd) // pushes the stored cursor out of the history
	lost := make(chan [4]string, 1)
	d := &Dispatcher{Broker: b, Sender: fastSender(10), OnCursorExpired: func(ep, topic, cursor, top string) {
		lost <- [4]string{ep, topic, cursor, top}
	}}
	require.NoError(t, d.Add(Endpoint{ID: "ep", URL: srv.URL(), Keys: keys, Topic: "t", From: first.ID}))
	stop := runDispatcher(d)
	defer func() { assert.NoError(t, stop()) }()
	// The loss is reported with the range that was skipped.
	select {
	case l := <-lost:
		top, _ := b.Top(context.Background(), "t")
		assert.Equal(t, [4]string{"ep", "t", first.ID, top}, l)
	case <-time.After(5 * time.Second):
		t.Fatal("OnCursorExpired was not called")
	}
	// The lost messages are skipped (and logged); delivery goes on from the top.
	require.Eventually(t, func() bool {
		c, _ := d.cursors.Load(context.Background(), "ep|t")
		top, _ := b.Top(context.Background(), "t")
		return c == top
	}, 5*time.Second, time.Millisecond)
	publish(t, b, "t", 20, 21, evenOdd)
	require.True(t, srv.waitHandled(1, 5*time.Second))
	got, _ := srv.handled()
	assert.Equal(t, []int{20}, got)

	require.NoError(t, d.Remove("ep"))
	assert.ErrorIs(t, d.Remove("ep"), ErrUnknownEndpoint)
	_, err = d.Disabled("ep")
	assert.ErrorIs(t, err, ErrUnknownEndpoint)
}

func TestDispatcherRunErrors(t *testing.T) {
	t.Parallel()
	assert.Error(t, (&Dispatcher{}).Run(context.Background()), "no broker")
	b := &bus.Memory{}
	defer b.Close()
	d := &Dispatcher{Broker: b, Sender: fastSender(3)}
	stop := runDispatcher(d)
	require.Eventually(t, func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.running }, 5*time.Second, time.Millisecond)
	assert.Error(t, d.Run(context.Background()), "already running")

	// An endpoint added while running starts at once.
	keys := Secrets(Secret("k1"))
	srv := newFlakyServer(t, keys)
	publish(t, b, "late", 0, 3, evenOdd)
	require.NoError(t, d.Add(Endpoint{ID: "late", URL: srv.URL(), Keys: keys, Topic: "late", From: bus.Oldest}))
	require.True(t, srv.waitHandled(3, 5*time.Second))
	assert.NoError(t, stop())
}

// A dispatcher stopped while a delivery is in flight (the receiver handled
// it, the answer never arrived) sends it again after the restart, with the
// same webhook-id; the receiver acknowledges the duplicate without handling
// it twice, and delivery goes on.
func TestDispatcherStopMidDelivery(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	keys := Secrets(Secret("k1"))
	entered, release := make(chan string, 1), make(chan struct{})
	var handled atomic.Int32
	recv := &Receiver{Keys: keys, Handler: func(_ context.Context, e *Event) error {
		if handled.Add(1) == 1 {
			entered <- e.ID
			<-release // hold the first event until the dispatcher is gone
		}
		return nil
	}}
	var mu sync.Mutex
	var ids []string // webhook-id of every request, in order
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get(HeaderID))
		mu.Unlock()
		recv.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cursors := &MemoryCursors{}
	ep := Endpoint{ID: "ep", URL: srv.URL, Keys: keys, Topic: "t", From: bus.Oldest}
	publish(t, b, "t", 0, 2, evenOdd)

	d1 := &Dispatcher{Broker: b, Sender: fastSender(10), Cursors: cursors}
	require.NoError(t, d1.Add(ep))
	stop := runDispatcher(d1)
	first := <-entered
	require.NoError(t, stop()) // the attempt is cancelled; the handler goes on
	close(release)
	c, _ := cursors.Load(context.Background(), "ep|t")
	assert.Equal(t, bus.Oldest, c, "the first message is not recorded as delivered")

	d2 := &Dispatcher{Broker: b, Sender: fastSender(10), Cursors: cursors}
	require.NoError(t, d2.Add(ep))
	stop = runDispatcher(d2)
	defer func() { assert.NoError(t, stop()) }()
	require.Eventually(t, func() bool { return handled.Load() == 2 }, 5*time.Second, time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	// first (cut off), first again (maybe 409 while still held, then
	// acknowledged as a duplicate), then the second message.
	require.GreaterOrEqual(t, len(ids), 3)
	last := ids[len(ids)-1]
	assert.NotEqual(t, first, last)
	for _, id := range ids[:len(ids)-1] {
		assert.Equal(t, first, id)
	}
}

// A delivery that fails in a way no retry can fix is dead-lettered at once,
// with the reason, and the endpoint goes on with the next message.
func TestDispatcherDeadLettersErrorsNoRetryFixes(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer srv.Close()
	secret, err := GenerateSecret()
	require.NoError(t, err)
	tests := []struct {
		name   string
		sender *Sender
		keys   Keyring
		err    error
		reason string
	}{
		// The zero Sender refuses the loopback address of the test server.
		{"forbidden address", &Sender{}, Secrets(secret), ErrForbiddenAddress, "Sender.AllowPrivateNetworks"},
		{"expired keys", &Sender{AllowPrivateNetworks: true},
			Keyring{{Secret: secret, NotAfter: time.Now().Add(-time.Minute)}}, ErrNoKeys, "no usable key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &bus.Memory{}
			defer b.Close()
			dead := make(chan DeadLetter, 10)
			d := &Dispatcher{Broker: b, Sender: tc.sender, OnDeadLetter: func(dl DeadLetter) { dead <- dl }}
			require.NoError(t, d.Add(Endpoint{ID: "ep", URL: srv.URL, Keys: tc.keys, Topic: "t", From: bus.Oldest}))
			publish(t, b, "t", 0, 2, evenOdd)
			stop := runDispatcher(d)
			defer func() { assert.NoError(t, stop()) }()
			for i := range 2 {
				select {
				case dl := <-dead:
					assert.Len(t, dl.Attempts, 1, "no retry")
					assert.Contains(t, dl.Error, tc.reason)
					assert.Contains(t, dl.Error, tc.err.Error())
				case <-time.After(30 * time.Second): // the default schedule would take 27 hours
					t.Fatalf("message %d was not dead-lettered", i)
				}
			}
			logs, err := d.Deliveries("ep")
			require.NoError(t, err)
			require.Len(t, logs, 2)
			for _, l := range logs {
				assert.Equal(t, Dead, l.State)
			}
			assert.Len(t, d.DeadLetters(), 2)
			top, err := b.Top(context.Background(), "t")
			require.NoError(t, err)
			require.Eventually(t, func() bool { // the endpoint moved on
				c, _ := d.cursors.Load(context.Background(), "ep|t")
				return c == top
			}, 5*time.Second, time.Millisecond)
		})
	}
	assert.Zero(t, hits.Load())
}

// An endpoint with a long ID on a topic of the longest valid name keeps its
// cursor in FileCursors like any other, and gets its messages.
func TestDispatcherLongNamesWithFileCursors(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	keys := Secrets(Secret("k1"))
	srv := newFlakyServer(t, keys)
	topic := strings.Repeat("t", bus.MaxTopicLen)
	cursors := &FileCursors{Dir: t.TempDir()}
	ep := Endpoint{ID: strings.Repeat("endpoint-", 20), URL: srv.URL(), Keys: keys, Topic: topic, From: bus.Oldest}
	d := &Dispatcher{Broker: b, Sender: fastSender(10), Cursors: cursors} // no Logger
	require.NoError(t, d.Add(ep))
	publish(t, b, topic, 0, 5, evenOdd)
	stop := runDispatcher(d)
	defer func() { assert.NoError(t, stop()) }()
	require.True(t, srv.waitHandled(5, 10*time.Second), "every message is delivered")
	got, _ := srv.handled()
	assert.Equal(t, seq(0, 5, 1), got)
	top, err := b.Top(context.Background(), topic)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := d.Status(ep.ID)
		return err == nil && st.Cursor == top
	}, 5*time.Second, time.Millisecond)
	c, err := (&FileCursors{Dir: cursors.Dir}).Load(context.Background(), ep.ID+"|"+topic)
	require.NoError(t, err)
	assert.Equal(t, top, c, "stored on disk")
	st, err := d.Status(ep.ID)
	require.NoError(t, err)
	assert.NoError(t, st.Err)
	assert.True(t, st.Running)
}

// A cursor store that keeps failing is visible without a Logger: OnError
// gets every error and Status says the endpoint is failing, since when,
// until the store works again.
func TestDispatcherStatusShowsFailures(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	keys := Secrets(Secret("k1"))
	srv := newFlakyServer(t, keys)
	blocker := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	errs := make(chan error, 100)
	d := &Dispatcher{Broker: b, Sender: fastSender(1000), BreakerThreshold: 1 << 20,
		Cursors: &FileCursors{Dir: filepath.Join(blocker, "cursors")}, // under a file: every call fails
		OnError: func(id string, err error) {
			select {
			case errs <- err:
			default:
			}
		}}
	require.NoError(t, d.Add(Endpoint{ID: "ep", URL: srv.URL(), Keys: keys, Topic: "t"}))
	st, err := d.Status("ep")
	require.NoError(t, err)
	assert.Equal(t, EndpointStatus{ID: "ep", Topic: "t"}, st, "not started")
	_, err = d.Status("nope")
	assert.ErrorIs(t, err, ErrUnknownEndpoint)

	stop := runDispatcher(d)
	defer func() { assert.NoError(t, stop()) }()
	select {
	case err := <-errs:
		assert.ErrorIs(t, err, syscall.ENOTDIR)
		assert.ErrorContains(t, err, `endpoint "ep"`)
	case <-time.After(10 * time.Second):
		t.Fatal("OnError was not called")
	}
	require.Eventually(t, func() bool {
		st, _ = d.Status("ep")
		return st.Err != nil
	}, 5*time.Second, time.Millisecond)
	assert.ErrorIs(t, st.Err, syscall.ENOTDIR)
	assert.False(t, st.Since.IsZero())
	assert.True(t, st.Running)
	assert.Empty(t, st.Cursor)
	since := st.Since
	<-errs // a later retry fails too: the failure goes on since the same time
	st, _ = d.Status("ep")
	assert.Equal(t, since, st.Since)

	// The store works again: the endpoint starts at the top and is ok.
	require.NoError(t, os.Remove(blocker))
	top, err := b.Top(context.Background(), "t")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, _ = d.Status("ep")
		return st.Err == nil && st.Cursor == top
	}, 10*time.Second, time.Millisecond)
	assert.True(t, st.Since.IsZero())

	// A failing receiver shows too, until an attempt succeeds.
	srv.mode.Store(mode500)
	publish(t, b, "t", 0, 1, evenOdd)
	require.Eventually(t, func() bool {
		st, _ = d.Status("ep")
		return st.Err != nil
	}, 5*time.Second, time.Millisecond)
	var se *StatusError
	require.ErrorAs(t, st.Err, &se)
	assert.Equal(t, 500, se.StatusCode)
	srv.mode.Store(modeOK)
	require.True(t, srv.waitHandled(1, 10*time.Second))
	require.Eventually(t, func() bool {
		st, _ = d.Status("ep")
		return st.Err == nil && st.Cursor != top
	}, 5*time.Second, time.Millisecond)
}
