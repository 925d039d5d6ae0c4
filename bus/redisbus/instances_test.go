package redisbus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recv takes n messages from sub or fails.
func recv(t *testing.T, sub bus.Subscription, n int) []bus.Message {
	t.Helper()
	var out []bus.Message
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	for len(out) < n {
		select {
		case m, ok := <-sub.C():
			require.True(t, ok, "subscription ended after %d of %d: %v", len(out), n, sub.Err())
			out = append(out, m)
		case <-timer.C:
			t.Fatalf("timed out after %d of %d messages", len(out), n)
		}
	}
	return out
}

// Two brokers with their own connections, as two processes would have,
// share topics through Redis.
func TestTwoInstances(t *testing.T) {
	url := redisURL(t)
	prefix := freshPrefix(t, url)
	a, b := newBroker(t, url, prefix), newBroker(t, url, prefix)
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "orders/42"

	onB, err := b.Subscribe(ctx, topic, "")
	require.NoError(t, err)
	defer onB.Close()
	onA, err := a.Subscribe(ctx, topic, "")
	require.NoError(t, err)
	defer onA.Close()

	// Both publish at once: one contiguous sequence, seen alike everywhere.
	const each = 200
	errs := make(chan error, 2)
	for i, p := range []bus.Publisher{a, b} {
		go func() {
			for j := range each {
				if _, err := p.Publish(ctx, topic, bus.Message{Data: fmt.Appendf(nil, "%d:%d", i, j)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	gotB := recv(t, onB, 2*each)
	gotA := recv(t, onA, 2*each)
	for i := range gotB {
		require.Equal(t, gotB[i].ID, gotA[i].ID)
		require.Equal(t, gotB[i].Data, gotA[i].Data)
		if i > 0 {
			p, _ := bus.ParseID(gotB[i].ID)
			q, _ := bus.ParseID(gotB[i-1].ID)
			require.True(t, p.Follows(q), "%s after %s", gotB[i].ID, gotB[i-1].ID)
		}
	}

	// A consumer that read up to some ID on B resumes on A with no gap and
	// no duplicate, and the other way round.
	mid := gotB[99]
	resumed, err := a.Subscribe(ctx, topic, mid.ID)
	require.NoError(t, err)
	assert.Equal(t, gotB[100:], recv(t, resumed, 2*each-100))
	require.NoError(t, resumed.Close())
	resumed, err = b.Subscribe(ctx, topic, gotA[299].ID)
	require.NoError(t, err)
	more, err := a.Publish(ctx, topic, bus.Message{Data: []byte("more")})
	require.NoError(t, err)
	assert.Equal(t, append(gotA[300:], more), recv(t, resumed, 101))
	require.NoError(t, resumed.Close())

	// Read and Top agree across instances.
	topA, err := a.Top(ctx, topic)
	require.NoError(t, err)
	topB, err := b.Top(ctx, topic)
	require.NoError(t, err)
	assert.Equal(t, more.ID, topA)
	assert.Equal(t, topA, topB)
	page, err := b.Read(ctx, topic, gotA[397].ID, 0)
	require.NoError(t, err)
	assert.Equal(t, []bus.Message{gotA[398], gotA[399], more}, page)
}
