package admin_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook/admin"
)

// gate is a consumer that answers each POST only once let through: 200,
// or 500 while failing. It counts what it answered.
type gate struct {
	srv      *httptest.Server
	slots    chan struct{}
	failing  atomic.Bool
	answered atomic.Int64
	waiting  atomic.Int64 // requests waiting for a slot
	stop     chan struct{}
	once     sync.Once
}

func newGate(t *testing.T) *gate {
	t.Helper()
	g := &gate{slots: make(chan struct{}, 1000), stop: make(chan struct{})}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// With the body read, the server notices a client that gives up
		// (its context ends) and the request takes no slot.
		_, _ = io.Copy(io.Discard, r.Body)
		g.waiting.Add(1)
		defer g.waiting.Add(-1)
		select {
		case <-g.slots:
		case <-r.Context().Done():
			return
		case <-g.stop:
			return
		}
		g.answered.Add(1)
		if g.failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(func() {
		g.once.Do(func() { close(g.stop) })
		g.srv.Close()
	})
	return g
}

// let lets n more POSTs through.
func (g *gate) let(n int) {
	for range n {
		g.slots <- struct{}{}
	}
}

// operation reads an operation through the API.
func (s *system) operation(t *testing.T, path string) admin.Operation {
	t.Helper()
	r := s.do("GET", path, tokEP1, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var op admin.Operation
	r.decode(t, &op)
	return op
}

// until waits until the operation at path satisfies cond, reading it
// without failing the test from the waiting goroutine.
func (s *system) until(t *testing.T, path, what string, cond func(admin.Operation) bool) {
	t.Helper()
	eventually(t, func() bool {
		res, err := s.srv.Client().Do(s.request(path))
		if err != nil {
			return false
		}
		defer res.Body.Close()
		var op admin.Operation
		return res.StatusCode == http.StatusOK && json.NewDecoder(res.Body).Decode(&op) == nil && cond(op)
	}, what)
}

// request is a GET of path with ep1's token.
func (s *system) request(path string) *http.Request {
	req, _ := http.NewRequest("GET", s.srv.URL+"/admin"+path, nil)
	req.Header.Set("Authorization", "Bearer "+tokEP1)
	return req
}

// startAsync posts a replay of everything with Prefer: respond-async and
// returns the path of the operation it started.
func (s *system) startAsync(t *testing.T, route string, body map[string]any) (string, admin.Operation) {
	t.Helper()
	r := s.do("POST", "/endpoints/ep1/"+route, tokEP1, body, "Prefer", "respond-async, wait=10")
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	assert.Equal(t, "respond-async", r.header.Get("Preference-Applied"))
	var op admin.Operation
	r.decode(t, &op)
	loc := r.header.Get("Location")
	require.Equal(t, "operations/"+op.ID, loc)
	return "/endpoints/ep1/" + loc, op
}

// operationSystem is a system with ep1 delivering to a gate, the five
// messages it published already delivered.
func operationSystem(t *testing.T, configure func(h *admin.Handler)) (*system, *gate, []bus.Message) {
	t.Helper()
	s := newSystem(t)
	if configure != nil {
		configure(s.h)
	}
	t.Cleanup(func() { require.NoError(t, s.h.Close()) })
	g := newGate(t)
	r := s.do("POST", "/endpoints", tokOperator, map[string]any{"id": "ep1", "url": g.srv.URL, "topic": "orders", "from": bus.Oldest})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var msgs []bus.Message
	for range 5 {
		msgs = append(msgs, s.publish(t, "order.paid"))
	}
	g.let(5)
	eventually(t, func() bool { return g.answered.Load() == 5 }, "live delivery")
	return s, g, msgs
}

// A replay asked with Prefer: respond-async is answered 202 at once and
// runs apart from the request: its operation shows it running with its
// progress, then succeeded with what it delivered; it is listed newest
// first; other endpoints' paths and tokens without rights do not see it.
func TestOperationAsyncReplay(t *testing.T) {
	s, g, msgs := operationSystem(t, nil)
	g.let(2)
	path, op := s.startAsync(t, "replay", map[string]any{"from": bus.Oldest, "to": msgs[4].ID})
	assert.Equal(t, admin.OpRunning, op.State)
	assert.Equal(t, admin.KindReplay, op.Kind)
	assert.Equal(t, "ep1", op.Endpoint)
	assert.Equal(t, "shop", op.By, "the subject of ep1's token")
	assert.Equal(t, msgs[4].ID, op.To)
	assert.True(t, strings.HasPrefix(op.ID, "op_"), op.ID)
	s.until(t, path, "two replayed", func(op admin.Operation) bool { return op.Delivered == 2 })
	op = s.operation(t, path)
	assert.Equal(t, admin.OpRunning, op.State, "the third waits for the consumer")
	assert.True(t, op.Ended.IsZero())

	r := s.do("GET", path, tokNothing, nil)
	assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
	r = s.do("GET", strings.Replace(path, "ep1", "ep2", 1), tokOperator, nil)
	assert.Equal(t, http.StatusNotFound, r.status, "another endpoint's path: %s", r.body)
	r = s.do("GET", "/endpoints/ep1/operations/op_nonexistent", tokEP1, nil)
	assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
	assert.Equal(t, "not_found", r.errCode(t))
	r = s.do("GET", "/endpoints/ep1/operations/a%2Fb", tokEP1, nil)
	assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
	r = s.do("GET", "/endpoints/ep1/operations/bad!id", tokEP1, nil)
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)

	g.let(3)
	s.until(t, path, "replay done", func(op admin.Operation) bool { return op.State == admin.OpSucceeded })
	op = s.operation(t, path)
	assert.Equal(t, 5, op.Delivered)
	assert.Nil(t, op.Error)
	assert.False(t, op.Ended.Before(op.Started))
	assert.Equal(t, int64(10), g.answered.Load(), "five live, five replayed")

	// A recovery with nothing dead-lettered succeeds at once.
	rpath, _ := s.startAsync(t, "recover", map[string]any{"since": time.Now().Add(-time.Hour)})
	s.until(t, rpath, "recover done", func(op admin.Operation) bool { return op.State == admin.OpSucceeded })

	r = s.do("GET", "/endpoints/ep1/operations", tokEP1, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var list admin.OperationList
	r.decode(t, &list)
	require.Len(t, list.Operations, 2)
	assert.Equal(t, admin.KindRecover, list.Operations[0].Kind, "newest first")
	assert.Equal(t, admin.KindReplay, list.Operations[1].Kind)
	r = s.do("GET", "/endpoints/ep1/operations?x=1", tokEP1, nil)
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
}

// DELETE cancels a running operation and answers it stopped; an
// operation that cannot deliver fails with the error the request would
// have had (502 delivery_failed); one endpoint runs one operation at a
// time (409 with the running one's Location), MaxOperations running at
// once turn the next away with 429; a replay from a position no longer in
// the history is 410 at once; Close cancels what runs and turns new ones
// away with 503. The request without Prefer runs within it as before.
func TestOperationCancelFailLimitClose(t *testing.T) {
	s, g, msgs := operationSystem(t, func(h *admin.Handler) { h.MaxOperations = 1 })
	path, _ := s.startAsync(t, "replay", map[string]any{"from": bus.Oldest})
	r := s.do("POST", "/endpoints/ep1/replay", tokEP1, map[string]any{"from": bus.Oldest}, "Prefer", "respond-async")
	assert.Equal(t, http.StatusConflict, r.status, "%s", r.body)
	assert.Equal(t, "conflict", r.errCode(t))
	assert.Equal(t, "/endpoints/ep1/"+r.header.Get("Location"), path, "the running one")
	r = s.do("POST", "/endpoints/ep1/recover", tokEP1, map[string]any{"since": time.Now()})
	assert.Equal(t, http.StatusConflict, r.status, "a recovery within the request waits its turn too: %s", r.body)
	r = s.do("POST", "/endpoints", tokOperator, map[string]any{"id": "ep2", "url": g.srv.URL, "topic": "orders"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	r = s.do("POST", "/endpoints/ep2/replay", tokOperator, map[string]any{"from": bus.Oldest}, "Prefer", "respond-async")
	assert.Equal(t, http.StatusTooManyRequests, r.status, "%s", r.body)
	assert.Equal(t, "too_many_operations", r.errCode(t))
	assert.NotEmpty(t, r.header.Get("Retry-After"))
	// What runs, over every endpoint: an operator's view.
	r = s.do("GET", "/operations?state=running", tokOperator, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var running admin.OperationList
	r.decode(t, &running)
	require.Len(t, running.Operations, 1)
	assert.Equal(t, "/endpoints/ep1/operations/"+running.Operations[0].ID, path)
	assert.Equal(t, http.StatusForbidden, s.do("GET", "/operations", tokEP1, nil).status, "every endpoint's needs webhooks/*")
	assert.Equal(t, http.StatusBadRequest, s.do("GET", "/operations?state=done", tokOperator, nil).status)
	assert.Equal(t, http.StatusNotFound, s.do("GET", "/operations/x", tokOperator, nil).status)
	for _, prefer := range []string{"respond-async", ""} {
		r = s.do("POST", "/endpoints/ep2/replay", tokOperator, map[string]any{"from": "zzzzzzzz-1"}, "Prefer", prefer)
		assert.Equal(t, http.StatusGone, r.status, "a position of another epoch, Prefer %q: %s", prefer, r.body)
		assert.Equal(t, "cursor_expired", r.errCode(t))
	}
	eventually(t, func() bool { return g.waiting.Load() == 1 }, "the replay's POST at the consumer")

	r = s.do("DELETE", path, tokReader, nil)
	assert.Equal(t, http.StatusForbidden, r.status, "cancelling needs Publish: %s", r.body)
	r = s.do("DELETE", path, tokEP1, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var op admin.Operation
	r.decode(t, &op)
	assert.Equal(t, admin.OpCanceled, op.State)
	assert.Zero(t, op.Delivered)
	assert.False(t, op.Ended.IsZero())
	r = s.do("DELETE", path, tokEP1, nil)
	require.Equal(t, http.StatusOK, r.status, "cancelling an ended operation answers it: %s", r.body)

	// A consumer that fails: the operation fails as the request would.
	eventually(t, func() bool { return g.waiting.Load() == 0 }, "the cancelled POST left the consumer")
	g.failing.Store(true)
	g.let(2) // two attempts (the Sender's schedule), both 500
	path, _ = s.startAsync(t, "replay", map[string]any{"from": bus.Oldest, "to": msgs[0].ID})
	s.until(t, path, "replay failed", func(op admin.Operation) bool { return op.State == admin.OpFailed })
	op = s.operation(t, path)
	require.NotNil(t, op.Error)
	assert.Equal(t, "delivery_failed", op.Error.Code)
	assert.Contains(t, op.Error.Message, "500")
	assert.Equal(t, http.StatusBadGateway, op.Status)
	assert.Zero(t, op.Delivered)
	g.let(2)
	r = s.do("POST", "/endpoints/ep1/replay", tokEP1, map[string]any{"from": bus.Oldest, "to": msgs[0].ID})
	assert.Equal(t, http.StatusBadGateway, r.status, "the request without Prefer: %s", r.body)
	assert.Equal(t, "delivery_failed", r.errCode(t))

	// An unknown endpoint is refused before an operation starts.
	r = s.do("POST", "/endpoints/nope/replay", tokOperator, map[string]any{"from": bus.Oldest}, "Prefer", "respond-async")
	assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)

	// Close cancels the running one and refuses new ones.
	g.failing.Store(false)
	path, _ = s.startAsync(t, "replay", map[string]any{"from": bus.Oldest})
	require.NoError(t, s.h.Close())
	assert.Equal(t, admin.OpCanceled, s.operation(t, path).State)
	r = s.do("POST", "/endpoints/ep1/replay", tokEP1, map[string]any{"from": bus.Oldest}, "Prefer", "respond-async")
	assert.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
	assert.Equal(t, "unavailable", r.errCode(t))
}
