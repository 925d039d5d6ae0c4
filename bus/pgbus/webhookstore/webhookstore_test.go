package webhookstore_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/pgbus/internal/pgtest"
	"github.com/pushpull/pushpull/bus/pgbus/webhookstore"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/webhooktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup returns two pools (as two instances would have) and a prefix with
// the tables in place.
func setup(t testing.TB) (*pgxpool.Pool, *pgxpool.Pool, string) {
	t.Helper()
	url := pgtest.URL(t)
	prefix := pgtest.Prefix(t, url, webhookstore.Migrate)
	mk := func() *pgxpool.Pool {
		p, err := pgxpool.New(context.Background(), url)
		require.NoError(t, err)
		t.Cleanup(p.Close)
		return p
	}
	return mk(), mk(), prefix
}

func TestCursors(t *testing.T) {
	a, b, prefix := setup(t)
	ctx := context.Background()
	s := &webhookstore.Cursors{Pool: a, Prefix: prefix}
	got, err := s.Load(ctx, "ep|orders")
	require.NoError(t, err)
	assert.Empty(t, got, "nothing stored yet")
	require.NoError(t, s.Save(ctx, "ep|orders", "abc-1"))
	require.NoError(t, s.Save(ctx, "ep|orders", "abc-2"))
	require.NoError(t, s.Save(ctx, "other|orders", "abc-9"))
	// Another instance sees the same positions.
	s2 := &webhookstore.Cursors{Pool: b, Prefix: prefix}
	got, err = s2.Load(ctx, "ep|orders")
	require.NoError(t, err)
	assert.Equal(t, "abc-2", got)
	got, err = s2.Load(ctx, "other|orders")
	require.NoError(t, err)
	assert.Equal(t, "abc-9", got)
}

func TestIdempotencyStates(t *testing.T) {
	a, _, prefix := setup(t)
	ctx := context.Background()
	s := &webhookstore.Idempotency{Pool: a, Prefix: prefix}
	st, err := s.Claim(ctx, "msg_1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, webhook.Claimed, st)
	st, err = s.Claim(ctx, "msg_1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, webhook.InProgress, st)
	require.NoError(t, s.Release(ctx, "msg_1"))
	st, err = s.Claim(ctx, "msg_1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, webhook.Claimed, st, "released keys are free")
	require.NoError(t, s.Complete(ctx, "msg_1", time.Minute))
	require.NoError(t, s.Release(ctx, "msg_1")) // a done key stays done
	st, err = s.Claim(ctx, "msg_1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, webhook.Done, st)

	// An expired claim is free again, and Sweep removes it.
	st, err = s.Claim(ctx, "msg_2", 50*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, webhook.Claimed, st)
	time.Sleep(100 * time.Millisecond) // past the claim's ttl, by any clock
	n, err := s.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	st, err = s.Claim(ctx, "msg_2", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, webhook.Claimed, st)
}

// Of concurrent claims of one key from two instances, exactly one wins.
func TestIdempotencyConcurrentClaims(t *testing.T) {
	a, b, prefix := setup(t)
	ctx := context.Background()
	stores := []*webhookstore.Idempotency{{Pool: a, Prefix: prefix}, {Pool: b, Prefix: prefix}}
	const n = 16
	results := make(chan webhook.ClaimState, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			st, err := stores[i%2].Claim(ctx, "evt_race", time.Minute)
			errs <- err
			results <- st
		})
	}
	wg.Wait()
	claimed := 0
	for range n {
		require.NoError(t, <-errs)
		if <-results == webhook.Claimed {
			claimed++
		}
	}
	assert.Equal(t, 1, claimed)
}

// A Receiver on two instances sharing the store runs its handler once per
// event, however many times the event is delivered.
func TestReceiverDedupesAcrossInstances(t *testing.T) {
	a, b, prefix := setup(t)
	secret, err := webhook.GenerateSecret()
	require.NoError(t, err)
	var mu sync.Mutex
	handled := map[string]int{}
	newServer := func(pool *pgxpool.Pool) *httptest.Server {
		return httptest.NewServer(&webhook.Receiver{
			Keys:        webhook.Secrets(secret),
			Idempotency: &webhookstore.Idempotency{Pool: pool, Prefix: prefix},
			Handler: func(_ context.Context, e *webhook.Event) error {
				mu.Lock()
				handled[e.ID]++
				mu.Unlock()
				return nil
			},
		})
	}
	s1, s2 := newServer(a), newServer(b)
	defer s1.Close()
	defer s2.Close()
	sender := &webhook.Sender{AllowPrivateNetworks: true}
	defer sender.CloseIdleConnections()
	for i, srv := range []*httptest.Server{s1, s2, s1, s2} {
		ep := &webhook.Endpoint{ID: "ep", URL: srv.URL, Keys: webhook.Secrets(secret)}
		_, err := sender.Send(context.Background(), ep, webhook.Delivery{ID: "msg_once", Body: []byte(`{"n":1}`)})
		require.NoError(t, err, "delivery %d", i)
	}
	assert.Equal(t, map[string]int{"msg_once": 1}, handled)
}

// A Dispatcher's dead letters and attempts land in the tables through its
// hooks, and can be listed and removed.
func TestDeadLettersAndAttempts(t *testing.T) {
	a, b, prefix := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "nope", http.StatusInternalServerError)
	}))
	defer srv.Close()
	dls := &webhookstore.DeadLetters{Pool: a, Prefix: prefix}
	log := &webhookstore.Attempts{Pool: a, Prefix: prefix}
	mem := &bus.Memory{}
	defer mem.Close()
	secret, err := webhook.GenerateSecret()
	require.NoError(t, err)
	d := &webhook.Dispatcher{
		Broker:       mem,
		Sender:       &webhook.Sender{AllowPrivateNetworks: true, Schedule: []time.Duration{time.Millisecond}, Jitter: -1},
		OnDeadLetter: dls.OnDeadLetter,
		OnAttempt:    log.OnAttempt,
	}
	require.NoError(t, d.Add(webhook.Endpoint{ID: "shop", URL: srv.URL, Keys: webhook.Secrets(secret), Topic: "orders", From: bus.Origin}))
	m, err := mem.Publish(ctx, "orders", bus.Message{Type: "order.created", Data: []byte(`{"id":1}`), Meta: map[string]string{"k": "v"}})
	require.NoError(t, err)
	dctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(dctx) }()

	// Read from the other instance's pool.
	other := &webhookstore.DeadLetters{Pool: b, Prefix: prefix}
	var got []webhook.DeadLetter
	for len(got) == 0 {
		require.NoError(t, ctx.Err(), "no dead letter stored")
		time.Sleep(20 * time.Millisecond)
		got, err = other.List(ctx, "shop", 0)
		require.NoError(t, err)
	}
	stop()
	require.NoError(t, <-done)
	require.Len(t, got, 1)
	dl := got[0]
	assert.Equal(t, "shop", dl.Endpoint)
	assert.Equal(t, m.ID, dl.Message.ID)
	assert.Equal(t, "orders", dl.Message.Topic)
	assert.Equal(t, m.Data, dl.Message.Data)
	assert.Equal(t, m.Meta, dl.Message.Meta)
	assert.True(t, m.Time.Equal(dl.Message.Time))
	require.Len(t, dl.Attempts, 2)
	assert.Equal(t, http.StatusInternalServerError, dl.Attempts[1].Status)
	assert.NotEmpty(t, dl.Error)

	attempts, err := (&webhookstore.Attempts{Pool: b, Prefix: prefix}).List(ctx, "shop", 0)
	require.NoError(t, err)
	require.Len(t, attempts, 2)
	assert.Equal(t, []int{1, 2}, []int{attempts[0].N, attempts[1].N})
	assert.Equal(t, dl.Delivery, attempts[0].Delivery)
	assert.Equal(t, http.StatusInternalServerError, attempts[1].Status)
	assert.Contains(t, string(attempts[0].Response), "nope")
	n, err := log.Prune(ctx, time.Hour)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing is an hour old")

	require.NoError(t, other.Remove(ctx, "shop", dl.Delivery))
	require.ErrorIs(t, other.Remove(ctx, "shop", dl.Delivery), webhookstore.ErrNotFound)
	got, err = dls.List(ctx, "", 0)
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestInvalidPrefix(t *testing.T) {
	ctx := context.Background()
	_, err := (&webhookstore.Cursors{Prefix: "Bad"}).Load(ctx, "k")
	require.ErrorContains(t, err, "prefix")
	_, err = (&webhookstore.Idempotency{Prefix: "a-b"}).Claim(ctx, "k", time.Minute)
	require.ErrorContains(t, err, "prefix")
	_, err = webhookstore.Schema("1x")
	require.ErrorContains(t, err, "prefix")
}

// A database migrated by the version before Store, holding its rows, is
// upgraded by Migrate, and Store reads those rows.
func TestUpgradeFromEarlierSchema(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	prefix := pgtest.Prefix(t, url, func(ctx context.Context, pool *pgxpool.Pool, prefix string) error {
		sql, err := webhookstore.Schema(prefix)
		if err != nil {
			return err
		}
		earlier, _, ok := strings.Cut(sql, "-- Attempt fields added with the Store type")
		if !ok {
			return errors.New("schema.sql lost its marker")
		}
		_, err = pool.Exec(ctx, earlier)
		return err
	})
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	_, err = pool.Exec(ctx, "INSERT INTO "+prefix+`webhook_attempts (endpoint, delivery, n, at, status, latency_ns, error, response, next_ns)
VALUES ('shop', 'msg_1', 1, $1, 503, 1500000, 'down', 'oops', 5000000000)`, at)
	require.NoError(t, err)
	// The attempts of a dead letter, as json.Marshal wrote them before
	// webhook.Attempt had a JSON form.
	legacy := `[{"Delivery":"msg_1","Endpoint":"shop","N":1,"At":"2026-11-01T12:00:00Z","Status":503,"Latency":1500000,"Error":"down","Response":"b29wcw==","Next":5000000000}]`
	m := bus.Message{Type: "order.paid", Data: []byte(`{"id":1}`), Time: at}
	_, err = pool.Exec(ctx, "INSERT INTO "+prefix+`webhook_dead_letters (endpoint, delivery, topic, message_id, record, attempts, error, at)
VALUES ('shop', 'msg_1', 'orders', '1-0', $1, $2, 'down', $3)`, bus.AppendRecord(nil, &m), legacy, at)
	require.NoError(t, err)

	require.NoError(t, webhookstore.Migrate(ctx, pool, prefix))
	require.NoError(t, webhookstore.Migrate(ctx, pool, prefix), "Migrate is idempotent")
	s := &webhookstore.Store{Pool: pool, Prefix: prefix}
	want := webhook.Attempt{Delivery: "msg_1", Endpoint: "shop", N: 1, At: at, Status: 503,
		Latency: 1500 * time.Microsecond, Error: "down", Response: []byte("oops"), Next: 5 * time.Second}
	attempts, err := s.ListAttempts(ctx, webhook.AttemptQuery{Endpoint: "shop", FailedOnly: true})
	require.NoError(t, err)
	require.Len(t, attempts, 1)
	assert.Equal(t, want, attempts[0])
	dls, err := s.ListDeadLetters(ctx, webhook.DeadLetterQuery{})
	require.NoError(t, err)
	require.Len(t, dls, 1)
	assert.Equal(t, []webhook.Attempt{want}, dls[0].Attempts)
	assert.Equal(t, m.Data, dls[0].Message.Data)
	assert.Equal(t, "1-0", dls[0].Message.ID)
	// The registry tables came with the upgrade.
	_, err = s.PutEndpoint(ctx, webhooktest.Config("shop"))
	require.NoError(t, err)
	rev, err := s.Revision(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), rev)
}

// Bad input and a Store without its pool answer with errors, never a
// panic.
func TestStoreErrors(t *testing.T) {
	ctx := context.Background()
	var zero webhookstore.Store
	_, err := zero.Load(ctx, "k")
	require.ErrorContains(t, err, "Pool")
	_, err = zero.PutEndpoint(ctx, webhooktest.Config("shop"))
	require.ErrorContains(t, err, "Pool")
	_, err = zero.AcquireLease(ctx, "k", "me", time.Second)
	require.ErrorContains(t, err, "Pool")
	require.ErrorContains(t, zero.RemoveDeadLetter(ctx, "a", "b"), "Pool")
	_, err = (&webhookstore.Store{Pool: &pgxpool.Pool{}, Prefix: "Bad"}).ListEndpoints(ctx)
	require.ErrorContains(t, err, "prefix")

	a, _, prefix := setup(t)
	s := &webhookstore.Store{Pool: a, Prefix: prefix}
	_, err = s.ListAttempts(ctx, webhook.AttemptQuery{})
	require.ErrorContains(t, err, "Endpoint")
	_, err = s.AcquireLease(ctx, "k", "", time.Second)
	require.ErrorContains(t, err, "holder")
	bad := webhooktest.Config("shop")
	bad.URL = "ftp://example.com"
	_, err = s.PutEndpoint(ctx, bad)
	require.ErrorIs(t, err, webhook.ErrInvalidEndpoint)
	rev, err := s.Revision(ctx)
	require.NoError(t, err)
	assert.Zero(t, rev, "a refused endpoint changes nothing")
}

// A claim whose context already ended takes nothing; one that started
// runs to its end, so its answer is never lost.
func TestClaimContext(t *testing.T) {
	a, _, prefix := setup(t)
	s := &webhookstore.Idempotency{Pool: a, Prefix: prefix}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Claim(ctx, "msg_1", time.Minute)
	require.ErrorIs(t, err, context.Canceled)
	st, err := s.Claim(context.Background(), "msg_1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, webhook.Claimed, st, "the cancelled claim took nothing")
}
