package retrytest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Harness adapts one client package to Run.
type Harness struct {
	// Prefix is the package name that starts the text of its errors.
	Prefix string
	// NewHandler returns a fresh Handler of the package serving b, and its
	// graceful Shutdown; nil when the Handler has none.
	NewHandler func(b bus.Broker) (http.Handler, func(context.Context) error)
	// Subscribe opens a subscription to topic after the cursor after with
	// the package's Client, whose requests, to any URL, go through hc. The
	// subscription's Close releases everything the Client holds. The
	// Client's backoff should stay within a second or two.
	Subscribe func(ctx context.Context, hc *http.Client, topic, after string) (bus.Subscription, error)
	// StatusOf returns the package's *StatusError in err's chain, found
	// with errors.As, as a retry.Status, and its Error text; ok is false
	// when there is none.
	StatusOf func(err error) (st retry.Status, text string, ok bool)
}

// The statuses the policy retries and some it does not.
var (
	Retried = []int{408, 425, 429, 500, 502, 503, 504}
	Refused = []int{400, 401, 403, 404}
)

const topic = "policy"

// env is one scenario's server, inside a synctest bubble: a Gate in front of
// the current Handler on an in-memory network.
type env struct {
	t     *testing.T
	h     Harness
	b     *bus.Memory
	gate  *Gate
	hc    *http.Client
	stop  func(context.Context) error   // the current Handler's, or nil
	stops []func(context.Context) error // every Handler's
}

func newEnv(t *testing.T, h Harness) *env {
	e := &env{t: t, h: h, b: &bus.Memory{}, gate: &Gate{}}
	e.fresh()
	e.hc = testnet.Serve(t, &http.Server{Handler: e.gate})
	return e
}

// fresh routes the Gate to a new Handler, as a new server taking over.
func (e *env) fresh() func(context.Context) error {
	hd, stop := e.h.NewHandler(e.b)
	e.gate.Route(hd)
	e.stop = stop
	if stop != nil {
		e.stops = append(e.stops, stop)
	}
	return stop
}

// cut makes the client ask again: a new Handler takes over and the old one
// shuts down, ending its streams and held requests (a poll client asks
// again by itself).
func (e *env) cut() {
	e.t.Helper()
	old := e.stop
	e.fresh()
	if old != nil {
		require.NoError(e.t, old(context.Background()))
	}
}

// close shuts every Handler down and closes the broker.
func (e *env) close() {
	for _, stop := range e.stops {
		_ = stop(context.Background())
	}
	e.b.Close()
}

func (e *env) publish(data string) bus.Message {
	e.t.Helper()
	m, err := e.b.Publish(context.Background(), topic, bus.Message{Data: []byte(data)})
	require.NoError(e.t, err)
	return m
}

// subscribe opens a subscription that is live: a message published after
// it arrives.
func (e *env) subscribe() bus.Subscription {
	e.t.Helper()
	sub, err := e.h.Subscribe(e.t.Context(), e.hc, topic, "")
	require.NoError(e.t, err)
	synctest.Wait()
	e.expect(sub, e.publish("first"))
	return sub
}

// expect fails the test unless sub delivers exactly want next.
func (e *env) expect(sub bus.Subscription, want ...bus.Message) {
	e.t.Helper()
	for _, w := range want {
		select {
		case m, ok := <-sub.C():
			require.True(e.t, ok, "subscription ended before %q: %v", w.Data, sub.Err())
			require.Equal(e.t, w.ID, m.ID, "got %q, want %q", m.Data, w.Data)
		case <-time.After(time.Hour):
			e.t.Fatalf("%q not delivered within an hour", w.Data)
		}
	}
}

// checkStatus fails the test unless err holds the package's StatusError
// for status with the message msg.
func (e *env) checkStatus(err error, status int, msg string) {
	e.t.Helper()
	st, text, ok := e.h.StatusOf(err)
	require.True(e.t, ok, "no StatusError in %v", err)
	assert.Equal(e.t, status, st.StatusCode)
	assert.Equal(e.t, msg, st.Message)
	assert.True(e.t, strings.HasPrefix(text, e.h.Prefix+": "), "%q lacks the package prefix", text)
	assert.Contains(e.t, text, fmt.Sprint(status))
	assert.Contains(e.t, text, msg)
}

// Run checks that the client of h follows the retry policy of package
// retry, each scenario in a testing/synctest bubble, so waits are measured
// on the fake clock:
//
//   - after each status in Retried (three refusals in a row) the
//     subscription carries on with no gap and no duplicate;
//   - a Retry-After in seconds or as an HTTP date is waited, and one of a
//     day is cut to retry.MaxRetryAfter;
//   - each status in Refused ends Subscribe, or a live subscription, with
//     the package's StatusError carrying the status and the server's
//     message, and is not retried;
//   - a Handler that shuts down (and answers 503 itself; the Gate answers
//     503 for a Handler without Shutdown) followed by a fresh one keeps the
//     subscription delivering, with no gap.
func Run(t *testing.T, h Harness) {
	t.Run("Retried", func(t *testing.T) {
		for _, code := range Retried {
			t.Run(fmt.Sprint(code), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { retried(t, h, code) })
			})
		}
	})
	t.Run("RetryAfter", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			value    func(now time.Time) string
			min, max time.Duration
		}{
			{"seconds", func(time.Time) string { return "30" }, 30 * time.Second, 33 * time.Second},
			// An HTTP date has whole seconds: up to one less is waited.
			{"date", func(now time.Time) string { return now.Add(40 * time.Second).UTC().Format(http.TimeFormat) }, 39 * time.Second, 44 * time.Second},
			{"clamped", func(time.Time) string { return "86400" }, retry.MaxRetryAfter, retry.MaxRetryAfter * 11 / 10},
		} {
			t.Run(tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { retryAfter(t, h, tc.value, tc.min, tc.max) })
			})
		}
	})
	t.Run("Refused", func(t *testing.T) {
		for _, code := range Refused {
			t.Run(fmt.Sprint(code), func(t *testing.T) {
				t.Run("subscribe", func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) { refusedFirst(t, h, code) })
				})
				t.Run("later", func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) { refusedLater(t, h, code) })
				})
			})
		}
	})
	t.Run("ShutdownThenFreshServer", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) { shutdownThenFresh(t, h) })
	})
}

func retried(t *testing.T, h Harness, code int) {
	e := newEnv(t, h)
	defer e.close()
	sub := e.subscribe()
	defer sub.Close()
	e.gate.RefuseNext(3, Refusal{Status: code, Body: "try again later"})
	e.cut()
	during := []bus.Message{e.publish("during 1"), e.publish("during 2")}
	e.expect(sub, during...)
	assert.Zero(t, e.gate.Pending(), "the client went through the three refusals")
	after := e.publish("after")
	e.expect(sub, after)
	assert.NoError(t, sub.Err())
	require.NoError(t, sub.Close())
	assert.NoError(t, sub.Err())
}

func retryAfter(t *testing.T, h Harness, value func(time.Time) string, lo, hi time.Duration) {
	e := newEnv(t, h)
	defer e.close()
	sub := e.subscribe()
	defer sub.Close()
	before := len(e.gate.Requests())
	e.gate.RefuseNext(1, Refusal{Status: http.StatusServiceUnavailable, RetryAfter: value, Body: "draining"})
	e.cut()
	m := e.publish("after the wait")
	select {
	case got, ok := <-sub.C():
		require.True(t, ok, "subscription ended: %v", sub.Err())
		assert.Equal(t, m.ID, got.ID)
	case <-time.After(time.Hour):
		t.Fatal("not delivered within an hour")
	}
	reqs := e.gate.Requests()[before:]
	refused := -1
	for i, r := range reqs {
		if r.Refused {
			refused = i
			break
		}
	}
	require.GreaterOrEqual(t, refused, 0, "no request was refused")
	require.Greater(t, len(reqs), refused+1, "no request after the refusal")
	wait := reqs[refused+1].At.Sub(reqs[refused].At)
	assert.GreaterOrEqual(t, wait, lo, "Retry-After waited")
	assert.LessOrEqual(t, wait, hi, "Retry-After plus at most a tenth")
}

func refusedFirst(t *testing.T, h Harness, code int) {
	e := newEnv(t, h)
	defer e.close()
	msg := fmt.Sprintf("no entry (%d)", code)
	e.gate.RefuseAll(Refusal{Status: code, Body: msg + "\n"})
	sub, err := h.Subscribe(t.Context(), e.hc, topic, "")
	if sub != nil {
		sub.Close()
	}
	require.Error(t, err)
	e.checkStatus(err, code, msg)
	time.Sleep(time.Hour)
	assert.Len(t, e.gate.Requests(), 1, "a %d is not retried", code)
}

func refusedLater(t *testing.T, h Harness, code int) {
	e := newEnv(t, h)
	defer e.close()
	sub := e.subscribe()
	defer sub.Close()
	msg := fmt.Sprintf("access revoked (%d)", code)
	e.gate.RefuseAll(Refusal{Status: code, Body: msg})
	e.cut()
	select {
	case m, ok := <-sub.C():
		require.False(t, ok, "unexpected message %q", m.Data)
	case <-time.After(time.Hour):
		t.Fatalf("the subscription did not end on %d", code)
	}
	e.checkStatus(sub.Err(), code, msg)
	time.Sleep(time.Hour)
	assert.Equal(t, 1, e.gate.Count(code), "a %d is not retried", code)
}

func shutdownThenFresh(t *testing.T, h Harness) {
	e := newEnv(t, h)
	defer e.close()
	sub := e.subscribe()
	defer sub.Close()
	if e.stop != nil {
		// The Handler drains: it ends its streams and answers 503 itself.
		require.NoError(t, e.stop(context.Background()))
	} else {
		e.gate.RefuseAll(Refusal{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"2"}}, Body: "shutting down"})
	}
	during := e.publish("during the deploy")
	for start := time.Now(); e.gate.Count(http.StatusServiceUnavailable) < 2; {
		require.Less(t, time.Since(start), time.Hour, "the client stopped asking after %d answers of 503", e.gate.Count(http.StatusServiceUnavailable))
		time.Sleep(100 * time.Millisecond)
	}
	assert.NoError(t, sub.Err(), "a 503 is not the end")
	e.gate.Open()
	e.fresh()
	e.expect(sub, during, e.publish("after the deploy"))
	assert.NoError(t, sub.Err())
}
