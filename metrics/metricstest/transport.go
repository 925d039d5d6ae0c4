package metricstest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/pushpull/pushpull/metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The topics of the transports' scripted tests: live subscriptions follow
// Topic; [DenySecret] refuses Secret.
const (
	Topic  = "orders"
	Secret = "secret"
)

// ErrSecret is what [DenySecret] returns for the topic Secret.
var ErrSecret = errors.New("metricstest: topic secret refused")

// DenySecret is an Authorize func for a transport's Handler: it refuses
// the topic Secret with ErrSecret and allows every other topic. The
// handler answers the refusal as forbidden and reports a metrics.Refused
// event with Outcome "forbidden" (see [CheckRefused]).
func DenySecret(_ *http.Request, topic string) error {
	if topic == Secret {
		return ErrSecret
	}
	return nil
}

// TB is the part of testing.TB the helpers use; *testing.T, *testing.B
// and *testing.F have it.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
	Cleanup(func())
}

// Context returns a context that is done when the test ends or a minute
// after the call, whichever comes first: a test that waits on it for
// something that never comes fails instead of hanging.
func Context(t TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Serve starts an httptest.Server with h and closes it when the test
// ends. Cleanups run last registered first: subscriptions that [Live]
// opens after Serve are closed before the server, whose Close waits for
// the requests in flight, live streams among them.
func Serve(t TB, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// A Publisher publishes messages of type M, as a bus.Broker does with
// bus.Message. The helpers name the bus types by their methods because
// the bus package's own tests use this package.
type Publisher[M any] interface {
	Publish(ctx context.Context, topic string, m M) (M, error)
}

// A Subscription delivers messages of type M, as a bus.Subscription does
// with bus.Message.
type Subscription[M any] interface {
	C() <-chan M
	Err() error
	Close() error
}

// Live opens subs subscriptions to Topic with subscribe (a transport
// Client's Subscribe, after ""), publishes msg to Topic msgs times with p,
// and waits until every subscription has received all msgs messages. It
// returns the subscriptions and the first message as p returned it (its
// ID is the cursor of a later reset); each subscription is closed when
// the test ends. It fails t if a subscription ends before it has every
// message or ctx ends first. Call it from the test goroutine.
func Live[M any, S Subscription[M]](t TB, ctx context.Context, p Publisher[M],
	subscribe func(ctx context.Context, topic, after string) (S, error), msg M, subs, msgs int) ([]S, M) {
	t.Helper()
	live := make([]S, 0, subs)
	for range subs {
		s, err := subscribe(ctx, Topic, "")
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, s.Close()) })
		live = append(live, s)
	}
	var first M
	for i := range msgs {
		m, err := p.Publish(ctx, Topic, msg)
		require.NoError(t, err)
		if i == 0 {
			first = m
		}
	}
	for i, s := range live {
		for n := range msgs {
			select {
			case _, ok := <-s.C():
				require.True(t, ok, "subscription %d ended after %d of %d messages: %v", i, n, msgs, s.Err())
			case <-ctx.Done():
				require.FailNow(t, "no message", "subscription %d: %d of %d messages: %v", i, n, msgs, ctx.Err())
			}
		}
	}
	return live, first
}

// Await calls cond every few milliseconds until it returns true. It fails
// t if ctx ends first.
func Await(t TB, ctx context.Context, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			require.FailNow(t, "condition not met", "%v", ctx.Err())
		}
	}
}

// CutSlow publishes msg (a large one: about a megabyte) to topic with p
// every few milliseconds until rec holds a metrics.ConnClosed event with
// Outcome metrics.ReasonSlow: a consumer subscribed to topic that reads
// nothing is cut once the buffers between it and its handler are full. It
// fails t if ctx ends first.
func CutSlow[M any](t TB, ctx context.Context, p Publisher[M], topic string, msg M, rec *Recorder) {
	t.Helper()
	Await(t, ctx, func() bool {
		if rec.Count(metrics.ConnClosed, metrics.Event{Outcome: metrics.ReasonSlow}) > 0 {
			return true
		}
		_, err := p.Publish(ctx, topic, msg)
		require.NoError(t, err)
		return false
	})
}

// CheckConns asserts that rec holds, for transport, as many
// metrics.ConnClosed events with each Outcome as closed maps it to, and as
// many metrics.ConnOpened events, and ConnClosed events in all, as closed
// counts: every connection opened was closed, for those reasons, and each
// ConnClosed event has the connection's Duration. A nil closed asserts
// that no connection was opened.
func CheckConns(t TB, rec *Recorder, transport string, closed map[string]int) {
	t.Helper()
	n := 0
	for why, k := range closed {
		n += k
		assert.Equal(t, k, rec.Count(metrics.ConnClosed, metrics.Event{Transport: transport, Outcome: why}),
			"%s: connections closed %s", transport, why)
	}
	assert.Equal(t, n, rec.Count(metrics.ConnOpened, metrics.Event{Transport: transport}), "%s: connections opened", transport)
	assert.Equal(t, n, rec.Count(metrics.ConnClosed, metrics.Event{Transport: transport}), "%s: connections closed", transport)
	for _, e := range events(rec, metrics.ConnClosed, transport) {
		assert.Positive(t, e.Duration, "%s: the duration of a connection closed %s", transport, e.Outcome)
	}
}

// CheckRefused asserts that rec holds, for transport, exactly one
// metrics.Refused event of [DenySecret]'s (topic Secret, Outcome
// "forbidden", Status 403) and n Refused events in all.
func CheckRefused(t TB, rec *Recorder, transport string, n int) {
	t.Helper()
	forbidden := 0
	for _, e := range events(rec, metrics.Refused, transport) {
		if e.Topic == Secret && e.Outcome == "forbidden" && e.Status == http.StatusForbidden {
			forbidden++
		}
	}
	assert.Equal(t, 1, forbidden, "%s: the refusal of %q, with status 403", transport, Secret)
	assert.Equal(t, n, rec.Count(metrics.Refused, metrics.Event{Transport: transport}), "%s: refusals", transport)
}

// CheckReset asserts that rec holds, for transport, exactly one
// metrics.Reset event, of Topic.
func CheckReset(t TB, rec *Recorder, transport string) {
	t.Helper()
	assert.Equal(t, 1, rec.Count(metrics.Reset, metrics.Event{Transport: transport}), "%s: resets", transport)
	assert.Equal(t, 1, rec.Count(metrics.Reset, metrics.Event{Transport: transport, Topic: Topic}), "%s: resets of %q", transport, Topic)
}

// CheckDelivered asserts that rec holds, for transport, metrics.Delivered
// events of Topic whose N add up to n, and that each Delivered event of
// transport has the Bytes written.
func CheckDelivered(t TB, rec *Recorder, transport string, n int) {
	t.Helper()
	assert.Equal(t, int64(n), rec.Sum(metrics.Delivered, metrics.Event{Transport: transport, Topic: Topic}),
		"%s: messages delivered", transport)
	checkBytes(t, rec, transport)
}

func checkBytes(t TB, rec *Recorder, transport string) {
	t.Helper()
	for _, e := range events(rec, metrics.Delivered, transport) {
		assert.Positive(t, e.Bytes, "%s: the bytes of a delivery of %q", transport, e.Topic)
	}
}

// events returns the events of Kind k and transport that rec holds.
func events(rec *Recorder, k metrics.Kind, transport string) []metrics.Event {
	var es []metrics.Event
	rec.each(k, metrics.Event{Transport: transport}, func(e metrics.Event) { es = append(es, e) })
	return es
}

// CheckClientDelivered asserts that rec holds, for transport, what a
// Client reports of the messages it receives: n metrics.Delivered events
// of Topic, one a message (N 1) with the Bytes of its Data, and no other.
func CheckClientDelivered(t TB, rec *Recorder, transport string, n int) {
	t.Helper()
	all := metrics.Event{Transport: transport}
	assert.Equal(t, n, rec.Count(metrics.Delivered, all), "%s: delivery events", transport)
	assert.Equal(t, int64(n), rec.Sum(metrics.Delivered, all), "%s: messages delivered", transport)
	assert.Equal(t, n, rec.Count(metrics.Delivered, metrics.Event{Transport: transport, Topic: Topic}), "%s: delivery events of %q", transport, Topic)
	checkBytes(t, rec, transport)
}
