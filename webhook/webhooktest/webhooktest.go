package webhooktest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// LeaseTTL is the lease time the suite uses to test expiry: it waits
// twice as long for a lease to lapse.
var LeaseTTL = 300 * time.Millisecond

// RunStore runs the conformance suite against stores made by newStore.
func RunStore(t *testing.T, newStore func(tb testing.TB) webhook.Store) {
	t.Helper()
	s := &suite{newStore: newStore}
	runAll(t, []test{
		{"Cursors", s.testCursors},
		{"RegistryCRUD", s.testRegistryCRUD},
		{"RegistryVersions", s.testRegistryVersions},
		{"RegistryConcurrentUpdates", s.testRegistryConcurrent},
		{"RegistryRevision", s.testRevision},
		{"RegistryInvalid", s.testRegistryInvalid},
		{"RegistryRoundTrip", s.testRegistryRoundTrip},
		{"Leases", s.testLeases},
		{"LeaseExpiry", s.testLeaseExpiry},
		{"LeaseConcurrentTakers", s.testLeaseConcurrent},
		{"Attempts", s.testAttempts},
		{"AttemptLimits", s.testAttemptLimits},
		{"AttemptRoundTrip", s.testAttemptRoundTrip},
		{"AttemptPrune", s.testAttemptPrune},
		{"DeadLetters", s.testDeadLetters},
		{"DeadLetterReplace", s.testDeadLetterReplace},
		{"DeadLetterRoundTrip", s.testDeadLetterRoundTrip},
		{"DeadLetterPrune", s.testDeadLetterPrune},
	})
}

type test struct {
	name string
	fn   func(t *testing.T)
}

// runAll runs the tests in parallel.
func runAll(t *testing.T, tests []test) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t)
		})
	}
}

type suite struct {
	newStore func(tb testing.TB) webhook.Store
}

func (s *suite) store(t *testing.T) (webhook.Store, context.Context) {
	t.Helper()
	st := s.newStore(t)
	require.NotNil(t, st, "factory returned nil")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return st, ctx
}

// Secret is a valid endpoint secret for tests.
const Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// Config returns a valid endpoint configuration for tests, with Version 0
// (a create).
func Config(id string) webhook.EndpointConfig {
	return webhook.EndpointConfig{
		ID:      id,
		URL:     "https://example.com/hooks/" + id,
		Topic:   "orders",
		Secrets: []webhook.SecretConfig{{Secret: Secret}},
	}
}

func (s *suite) testCursors(t *testing.T) {
	st, ctx := s.store(t)
	c, err := st.Load(ctx, "a|orders")
	require.NoError(t, err)
	assert.Empty(t, c, "cursor never saved")
	require.NoError(t, st.Save(ctx, "a|orders", "1-1"))
	require.NoError(t, st.Save(ctx, "b|orders", "7-7"))
	require.NoError(t, st.Save(ctx, "a|orders", "1-2"))
	c, err = st.Load(ctx, "a|orders")
	require.NoError(t, err)
	assert.Equal(t, "1-2", c, "the last Save wins")
	c, err = st.Load(ctx, "b|orders")
	require.NoError(t, err)
	assert.Equal(t, "7-7", c, "keys are independent")
}

func (s *suite) testRegistryCRUD(t *testing.T) {
	st, ctx := s.store(t)
	before := time.Now().Add(-time.Second)
	l, err := st.ListEndpoints(ctx)
	require.NoError(t, err)
	assert.Empty(t, l, "new store")

	for _, id := range []string{"b", "a", "c"} {
		got, err := st.PutEndpoint(ctx, Config(id))
		require.NoError(t, err)
		assert.Equal(t, int64(1), got.Version, "create sets Version 1")
		assert.True(t, got.Created.After(before), "Created set: %v", got.Created)
		assert.True(t, got.Updated.Equal(got.Created), "Updated = Created on create")
	}
	l, err = st.ListEndpoints(ctx)
	require.NoError(t, err)
	require.Len(t, l, 3)
	assert.Equal(t, []string{"a", "b", "c"}, []string{l[0].ID, l[1].ID, l[2].ID}, "sorted by ID")

	a, err := st.GetEndpoint(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, "https://example.com/hooks/a", a.URL)
	assert.Equal(t, int64(1), a.Version)

	a.Description = "changed"
	a.Disabled = true
	up, err := st.PutEndpoint(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, int64(2), up.Version, "update increments Version")
	assert.True(t, up.Created.Equal(a.Created), "Created kept")
	assert.False(t, up.Updated.Before(a.Updated), "Updated moves forward")
	again, err := st.GetEndpoint(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, "changed", again.Description)
	assert.True(t, again.Disabled)
	assert.Equal(t, int64(2), again.Version)

	require.NoError(t, st.DeleteEndpoint(ctx, "b"))
	_, err = st.GetEndpoint(ctx, "b")
	assert.ErrorIs(t, err, webhook.ErrEndpointNotFound, "deleted")
	assert.ErrorIs(t, st.DeleteEndpoint(ctx, "b"), webhook.ErrEndpointNotFound, "deleted twice")
	_, err = st.GetEndpoint(ctx, "never")
	assert.ErrorIs(t, err, webhook.ErrEndpointNotFound)
	l, err = st.ListEndpoints(ctx)
	require.NoError(t, err)
	assert.Len(t, l, 2)

	// A deleted ID can be created anew, from Version 1.
	got, err := st.PutEndpoint(ctx, Config("b"))
	require.NoError(t, err)
	assert.Equal(t, int64(1), got.Version)
}

func (s *suite) testRegistryVersions(t *testing.T) {
	st, ctx := s.store(t)
	v1, err := st.PutEndpoint(ctx, Config("a"))
	require.NoError(t, err)
	_, err = st.PutEndpoint(ctx, Config("a"))
	assert.ErrorIs(t, err, webhook.ErrConflict, "create of an existing ID")

	v2, err := st.PutEndpoint(ctx, v1)
	require.NoError(t, err)
	require.Equal(t, int64(2), v2.Version)
	stale := v1
	stale.URL = "https://example.com/stale"
	_, err = st.PutEndpoint(ctx, stale)
	assert.ErrorIs(t, err, webhook.ErrConflict, "update from a stale version")
	ahead := v2
	ahead.Version = 9
	_, err = st.PutEndpoint(ctx, ahead)
	assert.ErrorIs(t, err, webhook.ErrConflict, "update from a version never stored")
	got, err := st.GetEndpoint(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, v2.URL, got.URL, "refused updates changed nothing")
	assert.Equal(t, int64(2), got.Version)

	missing := Config("missing")
	missing.Version = 1
	_, err = st.PutEndpoint(ctx, missing)
	assert.ErrorIs(t, err, webhook.ErrEndpointNotFound, "update of an ID never created")
	_, err = st.GetEndpoint(ctx, "missing")
	assert.ErrorIs(t, err, webhook.ErrEndpointNotFound, "a refused update creates nothing")
}

func (s *suite) testRegistryConcurrent(t *testing.T) {
	st, ctx := s.store(t)
	v1, err := st.PutEndpoint(ctx, Config("a"))
	require.NoError(t, err)
	const n = 8
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			c := v1
			c.Description = fmt.Sprint("writer ", i)
			_, err := st.PutEndpoint(ctx, c)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, webhook.ErrConflict):
				conflicts.Add(1)
			default:
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Equal(t, int32(1), wins.Load(), "exactly one update of version 1 wins")
	assert.Equal(t, int32(n-1), conflicts.Load())
	got, err := st.GetEndpoint(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.Version)
}

func (s *suite) testRevision(t *testing.T) {
	st, ctx := s.store(t)
	rev := func() int64 {
		t.Helper()
		r, err := st.Revision(ctx)
		require.NoError(t, err)
		return r
	}
	r0 := rev()
	c, err := st.PutEndpoint(ctx, Config("a"))
	require.NoError(t, err)
	r1 := rev()
	assert.NotEqual(t, r0, r1, "create changes the revision")
	_, _ = st.GetEndpoint(ctx, "a")
	_, _ = st.ListEndpoints(ctx)
	assert.Equal(t, r1, rev(), "reads keep the revision")
	_, err = st.PutEndpoint(ctx, Config("a"))
	require.ErrorIs(t, err, webhook.ErrConflict)
	assert.Equal(t, r1, rev(), "a refused put keeps the revision")
	_, err = st.PutEndpoint(ctx, c)
	require.NoError(t, err)
	r2 := rev()
	assert.NotEqual(t, r1, r2, "update changes the revision")
	assert.NotEqual(t, r0, r2)
	require.NoError(t, st.DeleteEndpoint(ctx, "a"))
	r3 := rev()
	assert.NotContains(t, []int64{r0, r1, r2}, r3, "delete changes the revision to a new value")
	require.ErrorIs(t, st.DeleteEndpoint(ctx, "a"), webhook.ErrEndpointNotFound)
	assert.Equal(t, r3, rev(), "a refused delete keeps the revision")
}

func (s *suite) testRegistryInvalid(t *testing.T) {
	st, ctx := s.store(t)
	bad := map[string]func(*webhook.EndpointConfig){
		"empty ID":        func(c *webhook.EndpointConfig) { c.ID = "" },
		"ID with a space": func(c *webhook.EndpointConfig) { c.ID = "a b" },
		"relative URL":    func(c *webhook.EndpointConfig) { c.URL = "/hooks" },
		"ftp URL":         func(c *webhook.EndpointConfig) { c.URL = "ftp://example.com/" },
		"empty topic":     func(c *webhook.EndpointConfig) { c.Topic = "" },
		"no secret":       func(c *webhook.EndpointConfig) { c.Secrets = nil },
		"bad secret":      func(c *webhook.EndpointConfig) { c.Secrets[0].Secret = "whsec_%%%" },
		"bad from":        func(c *webhook.EndpointConfig) { c.From = "not a cursor" },
		"negative rate":   func(c *webhook.EndpointConfig) { c.RateLimit = -1 },
		"signature header": func(c *webhook.EndpointConfig) {
			c.Headers = map[string]string{"webhook-signature": "v1,x"}
		},
		"header with newline": func(c *webhook.EndpointConfig) {
			c.Headers = map[string]string{"X-A": "1\r\nX-B: 2"}
		},
		"negative concurrency": func(c *webhook.EndpointConfig) { c.MaxConcurrent = -1 },
	}
	for name, mutate := range bad {
		c := Config("a")
		c.Secrets = []webhook.SecretConfig{{Secret: Secret}}
		mutate(&c)
		_, err := st.PutEndpoint(ctx, c)
		assert.ErrorIs(t, err, webhook.ErrInvalidEndpoint, name)
	}
	l, err := st.ListEndpoints(ctx)
	require.NoError(t, err)
	assert.Empty(t, l, "nothing invalid was stored")
}

func (s *suite) testRegistryRoundTrip(t *testing.T) {
	st, ctx := s.store(t)
	notAfter := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	c := webhook.EndpointConfig{
		ID:    "shop.eu:1",
		URL:   "https://example.com/hooks?x=1",
		Topic: "orders",
		Types: []string{"order.*", "refund.created"},
		From:  bus.Oldest,
		Secrets: []webhook.SecretConfig{
			{Secret: "whsec_" + "bmV3IHNlY3JldCBrZXkgb2YgMzIgYnl0ZXMhISEhISE="},
			{Secret: Secret, NotAfter: notAfter},
		},
		Headers:       map[string]string{"X-Tenant": "eu ünïcode", "Authorization": "Bearer t"},
		RateLimit:     2.5,
		Burst:         4,
		MaxConcurrent: 3,
		Description:   "shop, EU — \"quoted\"",
		Disabled:      true,
	}
	put, err := st.PutEndpoint(ctx, c)
	require.NoError(t, err)
	got, err := st.GetEndpoint(ctx, c.ID)
	require.NoError(t, err)
	for name, g := range map[string]webhook.EndpointConfig{"put": put, "get": got} {
		assert.True(t, g.Created.Equal(put.Created) && g.Updated.Equal(put.Updated), name)
		g.Created, g.Updated = time.Time{}, time.Time{}
		require.Len(t, g.Secrets, 2, name)
		assert.True(t, g.Secrets[1].NotAfter.Equal(notAfter), name+": NotAfter %v", g.Secrets[1].NotAfter)
		g.Secrets[1].NotAfter = notAfter
		want := c
		want.Version = 1
		assert.Equal(t, want, g, name)
	}
	l, err := st.ListEndpoints(ctx)
	require.NoError(t, err)
	require.Len(t, l, 1)
	assert.Equal(t, c.Types, l[0].Types, "list returns whole configurations")
	assert.Equal(t, c.Headers, l[0].Headers)
	_, err = got.Endpoint()
	assert.NoError(t, err, "a stored configuration is usable")
}

func (s *suite) testLeases(t *testing.T) {
	st, ctx := s.store(t)
	const ttl = time.Minute
	acquire := func(key, holder string) bool {
		t.Helper()
		ok, err := st.AcquireLease(ctx, key, holder, ttl)
		require.NoError(t, err)
		return ok
	}
	assert.True(t, acquire("ep/a", "one"), "free lease")
	assert.False(t, acquire("ep/a", "two"), "held by another")
	assert.True(t, acquire("ep/a", "one"), "renewed by its holder")
	assert.True(t, acquire("ep/b", "two"), "keys are independent")
	require.NoError(t, st.ReleaseLease(ctx, "ep/a", "two"))
	assert.False(t, acquire("ep/a", "two"), "release by a non-holder does nothing")
	require.NoError(t, st.ReleaseLease(ctx, "ep/a", "one"))
	assert.True(t, acquire("ep/a", "two"), "released lease is free")
	assert.False(t, acquire("ep/a", "one"))
	require.NoError(t, st.ReleaseLease(ctx, "ep/never", "one"), "release of a free lease")
}

func (s *suite) testLeaseExpiry(t *testing.T) {
	st, ctx := s.store(t)
	ok, err := st.AcquireLease(ctx, "ep/a", "one", LeaseTTL)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = st.AcquireLease(ctx, "ep/a", "two", LeaseTTL)
	require.NoError(t, err)
	require.False(t, ok, "held")
	time.Sleep(2 * LeaseTTL)
	ok, err = st.AcquireLease(ctx, "ep/a", "two", time.Minute)
	require.NoError(t, err)
	assert.True(t, ok, "an expired lease is taken over")
	ok, err = st.AcquireLease(ctx, "ep/a", "one", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "the old holder lost it")
	require.NoError(t, st.ReleaseLease(ctx, "ep/a", "one"))
	ok, err = st.AcquireLease(ctx, "ep/a", "three", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "the old holder's release does not free the new holder's lease")
}

func (s *suite) testLeaseConcurrent(t *testing.T) {
	st, ctx := s.store(t)
	const n = 8
	var wins atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ok, err := st.AcquireLease(ctx, "ep/a", fmt.Sprint("holder-", i), time.Minute)
			if err != nil {
				errs <- err
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Equal(t, int32(1), wins.Load(), "exactly one of concurrent takers holds the lease")
}

// base is a recent time in whole milliseconds.
func base() time.Time { return time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour) }

func attempt(ep, delivery string, n int, at time.Time, status int) webhook.Attempt {
	a := webhook.Attempt{Endpoint: ep, Delivery: delivery, N: n, At: at, Status: status, Latency: time.Millisecond}
	if status < 200 || status >= 300 {
		a.Error = fmt.Sprintf("webhook: server answered %d", status)
	}
	return a
}

func deliveries(as []webhook.Attempt) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%s/%d", a.Delivery, a.N)
	}
	return out
}

func (s *suite) testAttempts(t *testing.T) {
	st, ctx := s.store(t)
	t0 := base()
	adds := []webhook.Attempt{
		attempt("a", "d1", 1, t0, 500),
		attempt("a", "d1", 2, t0.Add(2*time.Second), 200),
		attempt("b", "d1", 1, t0.Add(time.Second), 200),
		attempt("a", "d2", 1, t0.Add(time.Second), 503), // added late, earlier At
		attempt("a", "d3", 1, t0.Add(3*time.Second), 0),
		attempt("a", "d3", 2, t0.Add(3*time.Second), 200), // same At: order of addition
	}
	for _, a := range adds {
		require.NoError(t, st.AddAttempt(ctx, a))
	}
	list := func(q webhook.AttemptQuery) []string {
		t.Helper()
		l, err := st.ListAttempts(ctx, q)
		require.NoError(t, err)
		return deliveries(l)
	}
	assert.Equal(t, []string{"d1/1", "d2/1", "d1/2", "d3/1", "d3/2"}, list(webhook.AttemptQuery{Endpoint: "a"}), "oldest first")
	assert.Equal(t, []string{"d1/1"}, list(webhook.AttemptQuery{Endpoint: "b"}), "per endpoint")
	assert.Empty(t, list(webhook.AttemptQuery{Endpoint: "none"}))
	assert.Equal(t, []string{"d1/1", "d1/2"}, list(webhook.AttemptQuery{Endpoint: "a", Delivery: "d1"}))
	assert.Equal(t, []string{"d1/1", "d2/1", "d3/1"}, list(webhook.AttemptQuery{Endpoint: "a", FailedOnly: true}))
	assert.Equal(t, []string{"d2/1", "d1/2"}, list(webhook.AttemptQuery{Endpoint: "a", Since: t0.Add(time.Second), Until: t0.Add(3 * time.Second)}), "Since <= At < Until")
	assert.Equal(t, []string{"d3/1"}, list(webhook.AttemptQuery{Endpoint: "a", Since: t0.Add(3 * time.Second), FailedOnly: true}))
	assert.Equal(t, []string{"d1/1", "d2/1"}, list(webhook.AttemptQuery{Endpoint: "a", Limit: 2}), "the oldest Limit")
}

func (s *suite) testAttemptLimits(t *testing.T) {
	st, ctx := s.store(t)
	t0 := base()
	for i := range webhook.DefaultQueryLimit + 5 {
		require.NoError(t, st.AddAttempt(ctx, attempt("a", fmt.Sprint("d", i), 1, t0.Add(time.Duration(i)*time.Millisecond), 200)))
	}
	l, err := st.ListAttempts(ctx, webhook.AttemptQuery{Endpoint: "a"})
	require.NoError(t, err)
	require.Len(t, l, webhook.DefaultQueryLimit, "Limit 0 means DefaultQueryLimit")
	assert.Equal(t, "d0", l[0].Delivery)
	l, err = st.ListAttempts(ctx, webhook.AttemptQuery{Endpoint: "a", Limit: webhook.MaxQueryLimit * 10})
	require.NoError(t, err)
	assert.Len(t, l, webhook.DefaultQueryLimit+5, "a large Limit gets them all")
	_, err = st.ListAttempts(ctx, webhook.AttemptQuery{})
	assert.Error(t, err, "a query without endpoint is refused")
}

func (s *suite) testAttemptRoundTrip(t *testing.T) {
	st, ctx := s.store(t)
	t0 := base()
	want := []webhook.Attempt{{
		Delivery: "msg_1", Endpoint: "a", Message: "1700000000000-0", Type: "order.paid",
		N: 1, At: t0, Status: 503, Latency: 1500 * time.Microsecond,
		Error: "webhook: server answered 503 Service Unavailable: down ünïcode", Response: []byte("down ünïcode"),
		Next: 5 * time.Second,
	}, {
		Delivery: "msg_1", Endpoint: "a", N: 2, At: t0.Add(time.Second), Status: 200,
		Latency: 42 * time.Millisecond, Response: []byte{0xff, 0x00, 0xfe, 'x'},
	}, {
		Delivery: "msg_2", Endpoint: "a", N: 1, At: t0.Add(2 * time.Second),
		Latency: time.Second, Error: "dial tcp: connection refused",
	}}
	for _, a := range want {
		require.NoError(t, st.AddAttempt(ctx, a))
	}
	got, err := st.ListAttempts(ctx, webhook.AttemptQuery{Endpoint: "a"})
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		assert.True(t, g.At.Equal(w.At), "At %v, want %v", g.At, w.At)
		assert.Equal(t, w.OK(), g.OK(), "OK of attempt %d", i)
		assert.Equal(t, len(w.Response) > 0, len(g.Response) > 0)
		g.At, w.At = time.Time{}, time.Time{}
		if len(w.Response) == 0 {
			g.Response, w.Response = nil, nil
		}
		assert.Equal(t, fmt.Sprintf("%+v", w), fmt.Sprintf("%+v", g), "attempt %d", i)
		assert.Equal(t, w.Response, g.Response, "response bytes of attempt %d", i)
	}
	assert.False(t, got[0].OK())
	assert.True(t, got[1].OK())
}

// old is a time long past, used only by the pruning tests, so that a
// store shared by parallel tests prunes nothing of the others.
var old = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)

func (s *suite) testAttemptPrune(t *testing.T) {
	st, ctx := s.store(t)
	for i := range 4 {
		require.NoError(t, st.AddAttempt(ctx, attempt("a", fmt.Sprint("d", i), 1, old.Add(time.Duration(i)*time.Hour), 500)))
	}
	require.NoError(t, st.AddAttempt(ctx, attempt("b", "d9", 1, old, 500)))
	n, err := st.PruneAttempts(ctx, old.Add(2*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 3, n, "a: d0, d1; b: d9")
	l, err := st.ListAttempts(ctx, webhook.AttemptQuery{Endpoint: "a"})
	require.NoError(t, err)
	assert.Equal(t, []string{"d2/1", "d3/1"}, deliveries(l))
	l, err = st.ListAttempts(ctx, webhook.AttemptQuery{Endpoint: "b"})
	require.NoError(t, err)
	assert.Empty(t, l)
	n, err = st.PruneAttempts(ctx, old.Add(2*time.Hour))
	require.NoError(t, err)
	assert.Zero(t, n, "nothing left to prune")
}

func deadLetter(ep, delivery string, at time.Time) webhook.DeadLetter {
	return webhook.DeadLetter{
		Endpoint: ep, Delivery: delivery, At: at, Error: "webhook: retries exhausted",
		Message:  bus.Message{Topic: "orders", ID: "1-" + delivery, Type: "order.paid", Data: []byte(`{"n":1}`), Time: at.Add(-time.Minute)},
		Attempts: []webhook.Attempt{attempt(ep, delivery, 1, at.Add(-time.Second), 500)},
	}
}

func letters(l []webhook.DeadLetter) []string {
	out := make([]string, len(l))
	for i, dl := range l {
		out[i] = dl.Endpoint + "/" + dl.Delivery
	}
	return out
}

func (s *suite) testDeadLetters(t *testing.T) {
	st, ctx := s.store(t)
	t0 := base()
	for _, dl := range []webhook.DeadLetter{
		deadLetter("a", "d1", t0),
		deadLetter("b", "d1", t0.Add(time.Second)),
		deadLetter("a", "d3", t0.Add(3*time.Second)),
		deadLetter("a", "d2", t0.Add(2*time.Second)),
	} {
		require.NoError(t, st.AddDeadLetter(ctx, dl))
	}
	list := func(q webhook.DeadLetterQuery) []string {
		t.Helper()
		l, err := st.ListDeadLetters(ctx, q)
		require.NoError(t, err)
		return letters(l)
	}
	assert.Equal(t, []string{"a/d1", "b/d1", "a/d2", "a/d3"}, list(webhook.DeadLetterQuery{}), "every endpoint, oldest first")
	assert.Equal(t, []string{"a/d1", "a/d2", "a/d3"}, list(webhook.DeadLetterQuery{Endpoint: "a"}))
	assert.Equal(t, []string{"a/d2"}, list(webhook.DeadLetterQuery{Endpoint: "a", Since: t0.Add(time.Second), Until: t0.Add(3 * time.Second)}))
	assert.Equal(t, []string{"a/d1", "b/d1"}, list(webhook.DeadLetterQuery{Limit: 2}))

	require.NoError(t, st.RemoveDeadLetter(ctx, "a", "d2"))
	assert.Equal(t, []string{"a/d1", "a/d3"}, list(webhook.DeadLetterQuery{Endpoint: "a"}))
	assert.ErrorIs(t, st.RemoveDeadLetter(ctx, "a", "d2"), webhook.ErrDeadLetterNotFound, "removed twice")
	assert.ErrorIs(t, st.RemoveDeadLetter(ctx, "c", "d1"), webhook.ErrDeadLetterNotFound)
	assert.Equal(t, []string{"b/d1"}, list(webhook.DeadLetterQuery{Endpoint: "b"}), "same delivery of another endpoint kept")
}

func (s *suite) testDeadLetterReplace(t *testing.T) {
	st, ctx := s.store(t)
	t0 := base()
	require.NoError(t, st.AddDeadLetter(ctx, deadLetter("a", "d1", t0)))
	require.NoError(t, st.AddDeadLetter(ctx, deadLetter("a", "d2", t0.Add(time.Second))))
	again := deadLetter("a", "d1", t0.Add(2*time.Second))
	again.Error = "second time"
	again.Attempts = append(again.Attempts, attempt("a", "d1", 2, t0.Add(2*time.Second), 502))
	require.NoError(t, st.AddDeadLetter(ctx, again))
	l, err := st.ListDeadLetters(ctx, webhook.DeadLetterQuery{Endpoint: "a"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a/d2", "a/d1"}, letters(l), "replaced, not added, and ordered by its new time")
	require.Len(t, l, 2)
	assert.Equal(t, "second time", l[1].Error)
	assert.Len(t, l[1].Attempts, 2)
}

func (s *suite) testDeadLetterRoundTrip(t *testing.T) {
	st, ctx := s.store(t)
	t0 := base()
	want := deadLetter("a", "msg_bin", t0)
	want.Message.Data = []byte{0, 1, 2, 0xff, 0xfe}
	want.Message.Meta = map[string]string{"trace": "abc", "ünï": "cödé"}
	want.Attempts[0].Response = []byte{0xc3, 0x28}
	want.Attempts[0].Next = 30 * time.Second
	text := deadLetter("a", "msg_text", t0.Add(time.Second))
	text.Message.Data = []byte("plain text, not JSON")
	for _, dl := range []webhook.DeadLetter{want, text} {
		require.NoError(t, st.AddDeadLetter(ctx, dl))
	}
	got, err := st.ListDeadLetters(ctx, webhook.DeadLetterQuery{Endpoint: "a"})
	require.NoError(t, err)
	require.Len(t, got, 2)
	for i, w := range []webhook.DeadLetter{want, text} {
		g := got[i]
		assert.True(t, g.At.Equal(w.At), "At")
		assert.True(t, g.Message.Time.Equal(w.Message.Time), "message time")
		assert.Equal(t, w.Message.Data, g.Message.Data, "message data, byte for byte")
		assert.Equal(t, w.Message.Meta, g.Message.Meta)
		assert.Equal(t, w.Message.ID, g.Message.ID)
		assert.Equal(t, w.Message.Topic, g.Message.Topic)
		assert.Equal(t, w.Message.Type, g.Message.Type)
		assert.Equal(t, w.Error, g.Error)
		require.Len(t, g.Attempts, len(w.Attempts))
		for j := range w.Attempts {
			assert.Equal(t, w.Attempts[j].Response, g.Attempts[j].Response)
			assert.Equal(t, w.Attempts[j].Next, g.Attempts[j].Next)
			assert.Equal(t, w.Attempts[j].Status, g.Attempts[j].Status)
			assert.True(t, w.Attempts[j].At.Equal(g.Attempts[j].At))
		}
	}
}

func (s *suite) testDeadLetterPrune(t *testing.T) {
	st, ctx := s.store(t)
	for i := range 3 {
		require.NoError(t, st.AddDeadLetter(ctx, deadLetter("a", fmt.Sprint("d", i), old.Add(time.Duration(i)*time.Hour))))
	}
	require.NoError(t, st.AddDeadLetter(ctx, deadLetter("b", "d9", old)))
	n, err := st.PruneDeadLetters(ctx, old.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	l, err := st.ListDeadLetters(ctx, webhook.DeadLetterQuery{})
	require.NoError(t, err)
	assert.Equal(t, []string{"a/d1", "a/d2"}, letters(l))
}
