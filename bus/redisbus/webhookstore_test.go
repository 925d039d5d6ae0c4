package redisbus_test

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

	"github.com/pushpull/pushpull/bus/redisbus"
	"github.com/pushpull/pushpull/webhook"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testClient(t *testing.T) (redis.UniversalClient, string) {
	t.Helper()
	url := redisURL(t)
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c, freshPrefix(t, url)
}

func TestWebhookCursors(t *testing.T) {
	c, prefix := testClient(t)
	ctx := context.Background()
	s := &redisbus.WebhookCursors{Client: c, Prefix: prefix}
	got, err := s.Load(ctx, "ep|orders")
	require.NoError(t, err)
	assert.Empty(t, got, "nothing stored yet")
	require.NoError(t, s.Save(ctx, "ep|orders", "abc-1"))
	require.NoError(t, s.Save(ctx, "ep|orders", "abc-2"))
	require.NoError(t, s.Save(ctx, "other|orders", "abc-9"))
	// Another instance, on its own connection, sees the same positions.
	c2, _ := testClient(t)
	s2 := &redisbus.WebhookCursors{Client: c2, Prefix: prefix}
	got, err = s2.Load(ctx, "ep|orders")
	require.NoError(t, err)
	assert.Equal(t, "abc-2", got)
	got, err = s2.Load(ctx, "other|orders")
	require.NoError(t, err)
	assert.Equal(t, "abc-9", got)
}

func TestWebhookIdempotencyStates(t *testing.T) {
	c, prefix := testClient(t)
	ctx := context.Background()
	s := &redisbus.WebhookIdempotency{Client: c, Prefix: prefix}
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

// TestWebhookIdempotencyAcrossReceivers delivers the same signed event to
// three Receiver instances sharing one Redis store, concurrently and again
// afterwards: the handler runs exactly once.
func TestWebhookIdempotencyAcrossReceivers(t *testing.T) {
	_, prefix := testClient(t)
	secret, err := webhook.GenerateSecret()
	require.NoError(t, err)
	keys := webhook.Secrets(secret)
	var runs atomic.Int32
	var servers []*httptest.Server
	for range 3 {
		c2, _ := testClient(t)
		r := &webhook.Receiver{
			Keys:        keys,
			Idempotency: &redisbus.WebhookIdempotency{Client: c2, Prefix: prefix},
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
