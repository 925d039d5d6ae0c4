package metricstest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeT records what a helper reports; FailNow ends the goroutine, as it
// does in a test.
type fakeT struct {
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (*fakeT) Helper()  {}
func (*fakeT) FailNow() { runtime.Goexit() }
func (f *fakeT) Errorf(format string, args ...any) {
	f.mu.Lock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}
func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

// run runs fn in a goroutine of its own, as the testing package runs a
// test, then the cleanups fn registered, and returns what they reported.
func run(fn func(t metricstest.TB)) string {
	f := &fakeT{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	return strings.Join(f.errs, "\n")
}

func TestDenySecret(t *testing.T) {
	r, err := http.NewRequest(http.MethodGet, "/", nil)
	require.NoError(t, err)
	assert.ErrorIs(t, metricstest.DenySecret(r, metricstest.Secret), metricstest.ErrSecret)
	assert.NoError(t, metricstest.DenySecret(r, metricstest.Topic))
	assert.NoError(t, metricstest.DenySecret(r, "secrets"))
}

// Live subscribes after "" to Topic, delivers every message to every
// subscription, and closes them when the test ends.
func TestLive(t *testing.T) {
	ctx := metricstest.Context(t)
	rec := &metricstest.Recorder{}
	b := &bus.Memory{HistorySize: 8, Metrics: rec}
	defer b.Close()
	var calls []string
	subscribe := func(ctx context.Context, topic, after string) (bus.Subscription, error) {
		calls = append(calls, topic+"/"+after)
		return b.Subscribe(ctx, topic, after)
	}
	var live []bus.Subscription
	var first bus.Message
	failed := run(func(t metricstest.TB) {
		live, first = metricstest.Live(t, ctx, b, subscribe, bus.Message{Data: []byte("x")}, 3, 5)
		// Every message was taken: what comes next is new.
		_, err := b.Publish(ctx, metricstest.Topic, bus.Message{Data: []byte("next")})
		require.NoError(t, err)
		for _, s := range live {
			assert.Equal(t, "next", string((<-s.C()).Data))
		}
	})
	assert.Empty(t, failed)
	assert.Equal(t, []string{"orders/", "orders/", "orders/"}, calls)
	require.Len(t, live, 3)
	msgs, err := b.Read(ctx, metricstest.Topic, bus.Oldest, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 6)
	assert.Equal(t, msgs[0].ID, first.ID, "the first message")
	assert.Equal(t, "x", string(first.Data))
	assert.Equal(t, 3, rec.Count(metrics.BusUnsubscribed, metrics.Event{}), "closed when the test ends")
	for _, s := range live {
		_, open := <-s.C()
		assert.False(t, open)
		assert.NoError(t, s.Err(), "ended by Close")
	}
}

// ended is a subscription that delivers msgs, then ends with err.
type ended struct {
	c   chan bus.Message
	err error
}

func newEnded(err error, msgs ...bus.Message) *ended {
	s := &ended{c: make(chan bus.Message, len(msgs)), err: err}
	for _, m := range msgs {
		s.c <- m
	}
	close(s.c)
	return s
}

func (s *ended) C() <-chan bus.Message { return s.c }
func (s *ended) Err() error            { return s.err }
func (s *ended) Close() error          { return nil }

// Live fails the test, rather than hanging or passing, when a
// subscription ends early or cannot start, or ctx ends first.
func TestLiveFails(t *testing.T) {
	ctx := metricstest.Context(t)
	b := &bus.Memory{HistorySize: 8}
	defer b.Close()
	msg := bus.Message{Data: []byte("x")}

	gone := errors.New("gone")
	failed := run(func(t metricstest.TB) {
		metricstest.Live(t, ctx, b, func(context.Context, string, string) (*ended, error) {
			return newEnded(gone, msg), nil
		}, msg, 1, 3)
		t.Errorf("Live returned")
	})
	assert.Contains(t, failed, "subscription 0 ended after 1 of 3 messages: gone")
	assert.NotContains(t, failed, "Live returned")

	failed = run(func(t metricstest.TB) {
		metricstest.Live(t, ctx, b, func(context.Context, string, string) (*ended, error) {
			return nil, gone
		}, msg, 1, 3)
		t.Errorf("Live returned")
	})
	assert.Contains(t, failed, "gone")
	assert.NotContains(t, failed, "Live returned")

	quiet, cancel := context.WithCancel(ctx)
	defer cancel()
	failed = run(func(t metricstest.TB) {
		metricstest.Live(t, quiet, &cancelAt{3, cancel}, func(context.Context, string, string) (*ended, error) {
			return &ended{c: make(chan bus.Message)}, nil // delivers nothing
		}, msg, 1, 3)
		t.Errorf("Live returned")
	})
	assert.Contains(t, failed, "subscription 0: 0 of 3 messages: context canceled")
	assert.NotContains(t, failed, "Live returned")
}

// cancelAt publishes nothing; it calls cancel at its n-th message.
type cancelAt struct {
	n      int
	cancel context.CancelFunc
}

func (p *cancelAt) Publish(_ context.Context, _ string, m bus.Message) (bus.Message, error) {
	if p.n--; p.n == 0 {
		p.cancel()
	}
	return m, nil
}

func TestAwait(t *testing.T) {
	ctx := metricstest.Context(t)
	calls := 0
	failed := run(func(t metricstest.TB) {
		metricstest.Await(t, ctx, func() bool { calls++; return calls == 3 })
	})
	assert.Empty(t, failed)
	assert.Equal(t, 3, calls)

	done, cancel := context.WithCancel(ctx)
	cancel()
	failed = run(func(t metricstest.TB) {
		metricstest.Await(t, done, func() bool { return false })
		t.Errorf("Await returned")
	})
	assert.Contains(t, failed, "condition not met")
	assert.NotContains(t, failed, "Await returned")
}

// publisher reports a slow cut to rec at its cut-th publication.
type publisher struct {
	rec    *metricstest.Recorder
	cut    int
	topics []string
}

func (p *publisher) Publish(_ context.Context, topic string, m string) (string, error) {
	p.topics = append(p.topics, topic)
	if len(p.topics) == p.cut {
		p.rec.Record(metrics.Event{Kind: metrics.ConnClosed, Transport: "sse", Outcome: metrics.ReasonSlow})
	}
	return m, nil
}

// CutSlow publishes until the cut is recorded, and no more.
func TestCutSlow(t *testing.T) {
	ctx := metricstest.Context(t)
	p := &publisher{rec: &metricstest.Recorder{}, cut: 3}
	p.rec.Record(metrics.Event{Kind: metrics.ConnClosed, Transport: "sse", Outcome: metrics.ReasonClosed})
	failed := run(func(t metricstest.TB) { metricstest.CutSlow(t, ctx, p, "slow", "big", p.rec) })
	assert.Empty(t, failed)
	assert.Equal(t, []string{"slow", "slow", "slow"}, p.topics)
}

// The checks pass on the events of a script and fail on each way to miss
// one of them.
func TestChecks(t *testing.T) {
	forbidden := metrics.Event{Kind: metrics.Refused, Transport: "x", Topic: metricstest.Secret, Status: 403, Outcome: "forbidden"}
	delivered := metrics.Event{Kind: metrics.Delivered, Transport: "x", Topic: metricstest.Topic, N: 1, Bytes: 10}
	closed := metrics.Event{Kind: metrics.ConnClosed, Transport: "x", Outcome: metrics.ReasonSlow, Duration: time.Second}
	script := func() *metricstest.Recorder {
		rec := &metricstest.Recorder{}
		for _, e := range []metrics.Event{
			{Kind: metrics.ConnOpened, Transport: "x"},
			{Kind: metrics.ConnOpened, Transport: "x"},
			delivered,
			delivered,
			forbidden,
			{Kind: metrics.Refused, Transport: "x", Topic: metricstest.Topic, Status: 503, Outcome: "capacity"},
			{Kind: metrics.Reset, Transport: "x", Topic: metricstest.Topic},
			{Kind: metrics.Reset, Transport: "y", Topic: "other"}, // another transport's
			{Kind: metrics.ConnClosed, Transport: "x", Outcome: metrics.ReasonDone, Duration: time.Second},
			closed,
		} {
			rec.Record(e)
		}
		return rec
	}
	check := func(rec *metricstest.Recorder) string {
		return run(func(t metricstest.TB) {
			metricstest.CheckConns(t, rec, "x", map[string]int{metrics.ReasonDone: 1, metrics.ReasonSlow: 1})
			metricstest.CheckDelivered(t, rec, "x", 2)
			metricstest.CheckClientDelivered(t, rec, "x", 2)
			metricstest.CheckRefused(t, rec, "x", 2)
			metricstest.CheckReset(t, rec, "x")
		})
	}
	assert.Empty(t, check(script()))

	with := func(e metrics.Event, change func(*metrics.Event)) metrics.Event {
		change(&e)
		return e
	}
	for name, extra := range map[string]metrics.Event{
		"a connection":               {Kind: metrics.ConnOpened, Transport: "x"},
		"a closed connection":        closed,
		"a delivery":                 delivered,
		"a batch of none":            with(delivered, func(e *metrics.Event) { e.N = 0 }),
		"a delivery of other topics": with(delivered, func(e *metrics.Event) { e.Topic = "other" }),
		"a forbidden topic":          forbidden,
		"a refusal":                  with(forbidden, func(e *metrics.Event) { e.Topic, e.Outcome = metricstest.Topic, "capacity" }),
		"a reset":                    {Kind: metrics.Reset, Transport: "x", Topic: metricstest.Topic},
		"a reset of another topic":   {Kind: metrics.Reset, Transport: "x", Topic: "other"},
	} {
		rec := script()
		rec.Record(extra)
		assert.NotEmpty(t, check(rec), "with %s more", name)
	}
	for name, tc := range map[string]struct{ was, is metrics.Event }{
		"no bytes":    {delivered, with(delivered, func(e *metrics.Event) { e.Bytes = 0 })},
		"no duration": {closed, with(closed, func(e *metrics.Event) { e.Duration = 0 })},
		"no status":   {forbidden, with(forbidden, func(e *metrics.Event) { e.Status = 0 })},
	} {
		rec := &metricstest.Recorder{}
		for _, e := range script().Events() {
			if e == tc.was {
				e = tc.is
			}
			rec.Record(e)
		}
		assert.NotEmpty(t, check(rec), name)
	}
	assert.NotEmpty(t, check(&metricstest.Recorder{}), "no event")
}
