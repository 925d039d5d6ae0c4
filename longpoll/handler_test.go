package longpoll_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire/pollwiretest"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type answer struct {
	Messages []struct {
		ID   string `json:"id"`
		Data string `json:"data"`
	} `json:"messages"`
	Cursor string `json:"cursor"`
}

func (a answer) data() []string {
	var out []string
	for _, m := range a.Messages {
		out = append(out, m.Data)
	}
	return out
}

type result struct {
	code   int
	header http.Header
	body   []byte
	took   time.Duration
}

func (r result) answer(t *testing.T) answer {
	t.Helper()
	require.Equal(t, http.StatusOK, r.code, string(r.body))
	var a answer
	require.NoError(t, json.Unmarshal(r.body, &a))
	require.NotEmpty(t, a.Cursor, "every answer carries a cursor")
	return a
}

// start serves a request on a goroutine; the result arrives on the channel.
func start(ctx context.Context, h http.Handler, target string) <-chan result {
	ch := make(chan result, 1)
	r := httptest.NewRequest(http.MethodGet, target, nil).WithContext(ctx)
	go func() {
		begin := time.Now()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		ch <- result{code: w.Code, header: w.Header(), body: w.Body.Bytes(), took: time.Since(begin)}
	}()
	return ch
}

func TestHandlerAnswersAtOnceWithBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		msgs := pollwiretest.Publish(t, b, "news", "a", "b", "c")
		h := &longpoll.Handler{Broker: b, Limit: 2}
		r := <-start(t.Context(), h, "/?topic=news&after="+msgs[0].ID)
		a := r.answer(t)
		assert.Zero(t, r.took)
		assert.Equal(t, []string{"b", "c"}, a.data())
		assert.Equal(t, msgs[2].ID, a.Cursor)
		assert.Equal(t, "no-store", r.header.Get("Cache-Control"))

		a = (<-start(t.Context(), h, "/?topic=news&after=0")).answer(t)
		assert.Equal(t, []string{"a", "b"}, a.data())
		a = (<-start(t.Context(), h, "/?topic=news&after=0&limit=1")).answer(t)
		assert.Equal(t, []string{"a"}, a.data())

		r = <-start(t.Context(), h, "/?topic=news&after=latest")
		a = r.answer(t)
		assert.Zero(t, r.took)
		assert.Equal(t, []string{"c"}, a.data())
		assert.Equal(t, msgs[2].ID, a.Cursor)
		a = (<-start(t.Context(), h, "/?topic=news&after=latest&limit=0")).answer(t)
		assert.Empty(t, a.Messages)
		assert.Equal(t, msgs[2].ID, a.Cursor, "the top")
	})
}

// Latest on a topic that retains no message waits, as no cursor does, from
// the top.
func TestHandlerLatestHoldsOnEmptyTopic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &longpoll.Handler{Broker: b}
		ch := start(t.Context(), h, "/?topic=news&after="+longpoll.Latest)
		synctest.Wait()
		assert.Equal(t, 1, h.Held())
		msgs := pollwiretest.Publish(t, b, "news", "x")
		a := (<-ch).answer(t)
		assert.Equal(t, []string{"x"}, a.data())
		assert.Equal(t, msgs[0].ID, a.Cursor)
	})
}

func TestHandlerHoldsUntilMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &longpoll.Handler{Broker: b}
		ch := start(t.Context(), h, "/?topic=news") // no cursor: from the top
		synctest.Wait()
		assert.Equal(t, 1, h.Held())
		time.Sleep(10 * time.Second)
		msgs := pollwiretest.Publish(t, b, "news", "x", "y")
		r := <-ch
		a := r.answer(t)
		assert.Equal(t, 10*time.Second, r.took)
		assert.Equal(t, msgs[len(a.Messages)-1].ID, a.Cursor)
		assert.Equal(t, "x", a.data()[0])
		assert.Equal(t, 0, h.Held())
	})
}

func TestHandlerTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		query   string
		want    time.Duration
	}{
		{"default", 0, "", longpoll.DefaultTimeout},
		{"configured", 5 * time.Second, "", 5 * time.Second},
		{"client asks less", 0, "&timeout=3", 3 * time.Second},
		{"client asks decimal", 0, "&timeout=0.25", 250 * time.Millisecond},
		{"client asks more: capped", 0, "&timeout=100", longpoll.DefaultTimeout},
		{"client asks no wait", 0, "&timeout=0", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := &bus.Memory{}
				defer b.Close()
				top, err := b.Top(t.Context(), "news")
				require.NoError(t, err)
				h := &longpoll.Handler{Broker: b, Timeout: tc.timeout}
				r := <-start(t.Context(), h, "/?topic=news&after="+top+tc.query)
				a := r.answer(t)
				assert.Equal(t, tc.want, r.took)
				assert.Empty(t, a.Messages)
				assert.Equal(t, top, a.Cursor)
			})
		})
	}
}

func TestHandlerErrors(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{HistorySize: 2}
	t.Cleanup(func() { b.Close() })
	msgs := pollwiretest.Publish(t, b, "news", "a", "b", "c", "d")
	h := &longpoll.Handler{Broker: b, Authorize: func(_ *http.Request, topic string) error {
		if topic == "secret" {
			return assert.AnError
		}
		return nil
	}}
	tests := []struct {
		name   string
		method string
		target string
		status int
		code   string
	}{
		{"no topic", "GET", "/", 400, "invalid_topic"},
		{"malformed cursor", "GET", "/?topic=news&after=x-y-", 400, "invalid_cursor"},
		{"bad timeout", "GET", "/?topic=news&timeout=-1", 400, "invalid_parameter"},
		{"bad timeout text", "GET", "/?topic=news&timeout=soon", 400, "invalid_parameter"},
		{"denied", "GET", "/?topic=secret", 403, "forbidden"},
		{"method", "DELETE", "/?topic=news", 405, "method_not_allowed"},
		{"expired", "GET", "/?topic=news&after=" + msgs[0].ID, 410, "cursor_expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.target, nil))
			require.Equal(t, tc.status, w.Code, w.Body.String())
			var eb struct{ Error, Message, Top string }
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &eb))
			assert.Equal(t, tc.code, eb.Error)
			if tc.status == 410 {
				assert.Equal(t, msgs[3].ID, eb.Top)
			}
		})
	}
}

func TestHandlerMaxHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &longpoll.Handler{Broker: b, MaxHeld: 2, RetryAfter: 3 * time.Second}
		held := []<-chan result{start(t.Context(), h, "/?topic=news"), start(t.Context(), h, "/?topic=news")}
		synctest.Wait()
		require.Equal(t, 2, h.Held())

		r := <-start(t.Context(), h, "/?topic=news")
		assert.Equal(t, http.StatusServiceUnavailable, r.code)
		assert.Equal(t, "3", r.header.Get("Retry-After"))
		assert.Contains(t, string(r.body), `"over_capacity"`)
		assert.Zero(t, r.took)

		// A request with something to answer is never held: served.
		msgs := pollwiretest.Publish(t, b, "news", "a")
		for _, ch := range held {
			assert.Equal(t, []string{"a"}, (<-ch).answer(t).data())
		}
		_ = msgs
		held = []<-chan result{start(t.Context(), h, "/?topic=news&after="+msgs[0].ID), start(t.Context(), h, "/?topic=news&after="+msgs[0].ID)}
		synctest.Wait()
		a := (<-start(t.Context(), h, "/?topic=news&after=0")).answer(t)
		assert.Equal(t, []string{"a"}, a.data())
		time.Sleep(longpoll.DefaultTimeout)
		for _, ch := range held {
			assert.Empty(t, (<-ch).answer(t).Messages)
		}
	})
}

// A client that goes away frees its waiter at once: no goroutine, no
// subscription, no timer is left (TestMain checks goroutines with goleak).
func TestHandlerDisconnectFreesWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &longpoll.Handler{Broker: b}
		ctx, cancel := context.WithCancel(t.Context())
		ch := start(ctx, h, "/?topic=news")
		synctest.Wait()
		require.Equal(t, 1, h.Held())
		cancel()
		r := <-ch
		assert.Zero(t, r.took)
		assert.Equal(t, 0, h.Held())
		synctest.Wait() // every goroutine of the bubble but this one is gone
	})
}

func TestHandlerDisconnectOverHTTP(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	t.Cleanup(func() { b.Close() })
	h := &longpoll.Handler{Broker: b}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"?topic=news", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitUntil(t, func() bool { return h.Held() == 1 })
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
	waitUntil(t, func() bool { return h.Held() == 0 })
	http.DefaultClient.CloseIdleConnections()
}

// waitUntil polls cond until it holds, failing after a generous bound.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHandlerShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		top, err := b.Top(t.Context(), "news")
		require.NoError(t, err)
		h := &longpoll.Handler{Broker: b}
		var held []<-chan result
		for range 3 {
			held = append(held, start(t.Context(), h, "/?topic=news"))
		}
		synctest.Wait()
		require.Equal(t, 3, h.Held())
		begin := time.Now()
		require.NoError(t, h.Shutdown(t.Context()))
		assert.Zero(t, time.Since(begin))
		for _, ch := range held {
			r := <-ch
			a := r.answer(t)
			assert.Empty(t, a.Messages)
			assert.Equal(t, top, a.Cursor)
		}
		r := <-start(t.Context(), h, "/?topic=news")
		assert.Equal(t, http.StatusServiceUnavailable, r.code)
		assert.Equal(t, "2", r.header.Get("Retry-After"))
		require.NoError(t, h.Shutdown(t.Context()), "idempotent")
	})
}

// slowBroker blocks Read until release is closed.
type slowBroker struct {
	bus.Broker
	release chan struct{}
}

func (b slowBroker) Read(ctx context.Context, topic, after string, limit int) ([]bus.Message, error) {
	<-b.release
	return b.Broker.Read(ctx, topic, after, limit)
}

func TestHandlerShutdownDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		sb := slowBroker{Broker: b, release: make(chan struct{})}
		h := &longpoll.Handler{Broker: sb}
		ch := start(t.Context(), h, "/?topic=news")
		synctest.Wait()
		// A request stuck in the broker keeps Shutdown waiting until its
		// context ends.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		begin := time.Now()
		assert.ErrorIs(t, h.Shutdown(ctx), context.DeadlineExceeded)
		assert.Equal(t, time.Second, time.Since(begin))
		close(sb.release)
		r := <-ch
		assert.Equal(t, http.StatusOK, r.code, "answered at once: Shutdown was called")
		assert.Zero(t, r.took-time.Second)
	})
}

// All the requests held on a topic are woken by one message, each with an
// answer that continues from its own cursor.
func TestHandlerManyWaitersOneTopic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &longpoll.Handler{Broker: b}
		old := pollwiretest.Publish(t, b, "news", "old")
		var held []<-chan result
		for i := range 50 {
			target := "/?topic=news"
			if i%2 == 1 {
				target += "&after=" + old[0].ID
			}
			held = append(held, start(t.Context(), h, target))
		}
		synctest.Wait()
		require.Equal(t, 50, h.Held())
		msgs := pollwiretest.Publish(t, b, "news", "new")
		for _, ch := range held {
			a := (<-ch).answer(t)
			assert.Equal(t, []string{"new"}, a.data())
			assert.Equal(t, msgs[0].ID, a.Cursor)
		}
		synctest.Wait()
		assert.Equal(t, 0, h.Held())
	})
}

// A waiter whose cursor is behind the message that woke it gets everything
// after its cursor, read from the history.
func TestHandlerWokenBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &longpoll.Handler{Broker: b}
		first := start(t.Context(), h, "/?topic=news")
		synctest.Wait()
		msgs := pollwiretest.Publish(t, b, "news", "a", "b", "c")
		a := (<-first).answer(t)
		got := a.data()
		for len(got) < 3 {
			more := (<-start(t.Context(), h, "/?topic=news&after="+a.Cursor)).answer(t)
			got = append(got, more.data()...)
			a = more
		}
		assert.Equal(t, []string{"a", "b", "c"}, got)
		assert.Equal(t, msgs[2].ID, a.Cursor)
	})
}

func TestHandlerBrokerClosedWhileHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		h := &longpoll.Handler{Broker: b}
		ch := start(t.Context(), h, "/?topic=news")
		synctest.Wait()
		require.NoError(t, b.Close())
		r := <-ch
		assert.Equal(t, http.StatusServiceUnavailable, r.code)
		assert.Contains(t, string(r.body), `"unavailable"`)
		assert.Equal(t, "2", r.header.Get("Retry-After"))
	})
}

// Requests held on one topic with different timeouts are each answered at
// their own deadline, whatever the order they arrived in.
func TestHandlerDeadlinesOnOneTopic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &longpoll.Handler{Broker: b, Timeout: 20 * time.Second}
		var chans []<-chan result
		waits := []time.Duration{20 * time.Second, 3 * time.Second, 7 * time.Second, 3 * time.Second, 500 * time.Millisecond}
		for _, d := range waits {
			chans = append(chans, start(t.Context(), h, fmt.Sprintf("/?topic=news&timeout=%g", d.Seconds())))
			synctest.Wait()
			time.Sleep(time.Second) // arrive one second apart
		}
		for i, ch := range chans {
			r := <-ch
			assert.Empty(t, r.answer(t).Messages)
			assert.Equal(t, waits[i], r.took, "request %d", i)
		}
		assert.Equal(t, 0, h.Held())
	})
}

// HEAD gets the head of the answer GET would get at once: it is never held,
// since its answer carries no message anyway.
func TestHandlerHeadNotHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &longpoll.Handler{Broker: b}
		ch := make(chan result, 1)
		go func() {
			begin := time.Now()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodHead, "/?topic=news", nil).WithContext(t.Context()))
			ch <- result{code: w.Code, header: w.Header(), body: w.Body.Bytes(), took: time.Since(begin)}
		}()
		synctest.Wait()
		assert.Zero(t, h.Held())
		require.NoError(t, h.Shutdown(t.Context())) // ends a held request, if any
		r := <-ch
		assert.Equal(t, http.StatusOK, r.code)
		assert.Equal(t, "application/json", r.header.Get("Content-Type"))
		assert.Empty(t, r.body)
		assert.Zero(t, r.took)
	})
}
