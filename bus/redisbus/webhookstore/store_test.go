package webhookstore_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus/redisbus/webhookstore"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/webhooktest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCursors(t *testing.T) {
	prefix := freshPrefix(t)
	ctx := context.Background()
	s := webhookstore.NewCursors(newClient(t))
	s.Prefix = prefix
	got, err := s.Load(ctx, "ep|orders")
	require.NoError(t, err)
	assert.Empty(t, got, "nothing stored yet")
	require.NoError(t, s.Save(ctx, "ep|orders", "abc-1"))
	require.NoError(t, s.Save(ctx, "ep|orders", "abc-2"))
	require.NoError(t, s.Save(ctx, "other|orders", "abc-9"))
	// Another instance, on its own connection, sees the same positions.
	s2 := webhookstore.NewCursors(newClient(t))
	s2.Prefix = prefix
	got, err = s2.Load(ctx, "ep|orders")
	require.NoError(t, err)
	assert.Equal(t, "abc-2", got)
	got, err = s2.Load(ctx, "other|orders")
	require.NoError(t, err)
	assert.Equal(t, "abc-9", got)
}

func TestIdempotencyStates(t *testing.T) {
	ctx := context.Background()
	s := webhookstore.NewIdempotency(newClient(t))
	s.Prefix = freshPrefix(t)
	st, err := s.Claim(ctx, "msg_1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, webhook.Claimed, st)
	st, err = s.Claim(ctx, "msg_1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, webhook.InProgress, st)
	// A failed handler releases the claim: the retry may claim it.
	require.NoError(t, s.Release(ctx, "msg_1"))
	st, err = s.Claim(ctx, "msg_1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, webhook.Claimed, st)
	require.NoError(t, s.Complete(ctx, "msg_1", time.Minute))
	st, err = s.Claim(ctx, "msg_1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, webhook.Done, st)
	// Release never forgets a handled event.
	require.NoError(t, s.Release(ctx, "msg_1"))
	st, err = s.Claim(ctx, "msg_1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, webhook.Done, st)
	// A claim expires, so a receiver that died mid-event does not block
	// retries forever.
	st, err = s.Claim(ctx, "msg_2", 50*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, webhook.Claimed, st)
	require.Eventually(t, func() bool {
		st, err := s.Claim(ctx, "msg_2", time.Minute)
		return err == nil && st == webhook.Claimed
	}, 5*time.Second, 20*time.Millisecond)
}

// TestIdempotencyAcrossReceivers delivers the same signed event to
// three Receiver instances sharing one Redis store, concurrently and again
// afterwards: the handler runs exactly once.
func TestIdempotencyAcrossReceivers(t *testing.T) {
	prefix := freshPrefix(t)
	secret, err := webhook.GenerateSecret()
	require.NoError(t, err)
	keys := webhook.Secrets(secret)
	var runs atomic.Int32
	var servers []*httptest.Server
	for range 3 {
		store := webhookstore.NewIdempotency(newClient(t))
		store.Prefix = prefix
		r := &webhook.Receiver{
			Keys:        keys,
			Idempotency: store,
			Handler: func(context.Context, *webhook.Event) error {
				runs.Add(1)
				time.Sleep(20 * time.Millisecond) // keep the claim held while duplicates arrive
				return nil
			},
		}
		srv := httptest.NewServer(r)
		defer srv.Close()
		servers = append(servers, srv)
	}
	body := []byte(`{"type":"order.created","timestamp":"2026-11-27T12:00:00Z","data":{"id":1}}`)
	send := func(url string) (int, error) {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
		if err != nil {
			return 0, err
		}
		ts := time.Now().Unix()
		req.Header.Set("webhook-id", "msg_shared")
		req.Header.Set("webhook-timestamp", fmt.Sprint(ts))
		sig, err := webhook.Sign(keys, "msg_shared", time.Unix(ts, 0), body)
		if err != nil {
			return 0, err
		}
		req.Header.Set("webhook-signature", sig)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		return res.StatusCode, nil
	}
	statuses := make(chan int, 9)
	var wg sync.WaitGroup
	for i := range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, err := send(servers[i%3].URL)
			if err != nil {
				code = -1
			}
			statuses <- code
		}()
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for code := range statuses {
		require.Contains(t, []int{http.StatusOK, http.StatusNoContent, http.StatusConflict}, code)
		if code != http.StatusConflict {
			ok++
		}
	}
	assert.GreaterOrEqual(t, ok, 1)
	code, err := send(servers[2].URL)
	require.NoError(t, err)
	assert.Less(t, code, 300, "a later duplicate is acknowledged")
	assert.Equal(t, int32(1), runs.Load(), "the handler ran exactly once across the instances")
}

// TestDefaultPrefix checks the key layout of the package documentation:
// with no Prefix, the keys are the ones earlier releases wrote
// ("pushpull:webhook:cursor:…", "pushpull:webhook:event:…"), so stored
// positions and claims carry over.
func TestDefaultPrefix(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	key := fmt.Sprintf("test-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		c.Del(context.Background(), webhookstore.DefaultPrefix+"cursor:"+key, webhookstore.DefaultPrefix+"event:"+key)
	})
	require.NoError(t, c.Set(ctx, webhookstore.DefaultPrefix+"cursor:"+key, "stored-1", time.Minute).Err())
	got, err := webhookstore.NewCursors(c).Load(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "stored-1", got)

	st, err := webhookstore.NewIdempotency(c).Claim(ctx, key, time.Minute)
	require.NoError(t, err)
	require.Equal(t, webhook.Claimed, st)
	v, err := c.Get(ctx, webhookstore.DefaultPrefix+"event:"+key).Result()
	require.NoError(t, err)
	assert.Equal(t, "pending", v)
}

// TestNoClient: a store made without its constructor answers every call
// with an error, never a panic.
func TestNoClient(t *testing.T) {
	ctx := context.Background()
	var cur webhookstore.Cursors
	_, err := cur.Load(ctx, "k")
	assert.ErrorContains(t, err, "NewCursors")
	assert.Error(t, cur.Save(ctx, "k", "c"))
	idem := webhookstore.NewIdempotency(nil)
	_, err = idem.Claim(ctx, "k", time.Minute)
	assert.ErrorContains(t, err, "NewIdempotency")
	assert.Error(t, idem.Complete(ctx, "k", time.Minute))
	assert.Error(t, idem.Release(ctx, "k"))
}

// TestCursorsStoreError: a Redis that refuses the call surfaces as an
// error of the store, for the Dispatcher to report and retry.
func TestCursorsStoreError(t *testing.T) {
	opt, err := redis.ParseURL(redisURL)
	require.NoError(t, err)
	c := redis.NewClient(opt)
	require.NoError(t, c.Close()) // every later call fails
	_, err = webhookstore.NewCursors(c).Load(context.Background(), "k")
	assert.ErrorContains(t, err, "webhookstore: load cursor")
	assert.ErrorIs(t, webhookstore.NewCursors(c).Save(context.Background(), "k", "c"), redis.ErrClosed)
	_, err = webhookstore.NewIdempotency(c).Claim(context.Background(), "k", time.Minute)
	assert.ErrorIs(t, err, redis.ErrClosed)
}

// TestStoreErrors: a Store made without NewStore, and bad input, answer
// with errors, never a panic.
func TestStoreErrors(t *testing.T) {
	ctx := context.Background()
	var zero webhookstore.Store
	_, err := zero.Load(ctx, "k")
	assert.ErrorContains(t, err, "NewStore")
	_, err = zero.PutEndpoint(ctx, webhooktest.Config("shop"))
	assert.ErrorContains(t, err, "NewStore")
	_, err = zero.ListDeadLetters(ctx, webhook.DeadLetterQuery{})
	assert.ErrorContains(t, err, "NewStore")
	_, err = zero.PruneAttempts(ctx, time.Now())
	assert.ErrorContains(t, err, "NewStore")

	s := webhookstore.NewStore(newClient(t))
	s.Prefix = freshPrefix(t)
	_, err = s.ListAttempts(ctx, webhook.AttemptQuery{})
	assert.ErrorContains(t, err, "Endpoint")
	_, err = s.AcquireLease(ctx, "k", "", time.Second)
	assert.ErrorContains(t, err, "holder")
	bad := webhooktest.Config("shop")
	bad.Secrets = nil
	_, err = s.PutEndpoint(ctx, bad)
	assert.ErrorIs(t, err, webhook.ErrInvalidEndpoint)
	rev, err := s.Revision(ctx)
	require.NoError(t, err)
	assert.Zero(t, rev, "a refused endpoint changes nothing")

	// A corrupt value under the store's keys is an error, not a panic.
	c := newClient(t)
	require.NoError(t, c.HSet(ctx, s.Prefix+"endpoint:shop", "config", "{", "version", "1", "created", "x", "updated", "y").Err())
	_, err = s.GetEndpoint(ctx, "shop")
	assert.ErrorContains(t, err, "stored endpoint")
	require.NoError(t, c.ZAdd(ctx, s.Prefix+"attempts:shop", redis.Z{Score: 1, Member: "short"}).Err())
	_, err = s.ListAttempts(ctx, webhook.AttemptQuery{Endpoint: "shop"})
	assert.ErrorContains(t, err, "too short")
}

// TestClaimContext: a claim whose context already ended takes nothing; one
// that started runs to its end, so its answer is never lost.
func TestClaimContext(t *testing.T) {
	s := webhookstore.NewIdempotency(newClient(t))
	s.Prefix = freshPrefix(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Claim(ctx, "msg_1", time.Minute)
	require.ErrorIs(t, err, context.Canceled)
	st, err := s.Claim(context.Background(), "msg_1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, webhook.Claimed, st, "the cancelled claim took nothing")
}
