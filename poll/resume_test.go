package poll_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/testnet"
	"github.com/pushpull/pushpull/poll"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// No gap and no duplicate across 10,000 messages while a fifth of the
// requests are cut, before or in the middle of their answer.
func TestClientNoGapNoDuplicateUnderCuts(t *testing.T) {
	t.Parallel()
	const n = 10_000
	b := &bus.Memory{HistorySize: 2 * n}
	t.Cleanup(func() { b.Close() })
	cut := &testnet.Cutter{Handler: &poll.Handler{Broker: b, Interval: time.Millisecond}, Rate: 0.2, Seed: 4}
	srv := httptest.NewServer(cut)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	c := &poll.Client{URL: srv.URL, Interval: time.Millisecond, Limit: 50, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	sub, err := c.Subscribe(ctx, "load", "")
	require.NoError(t, err)
	defer sub.Close()

	pubErr := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := b.Publish(ctx, "load", bus.Message{Data: fmt.Append(nil, i)}); err != nil {
				pubErr <- err
				return
			}
			if i%100 == 0 {
				time.Sleep(time.Millisecond) // let polls interleave with publishing
			}
		}
		pubErr <- nil
	}()

	var prev bus.Position
	for i := range n {
		m, ok := <-sub.C()
		require.True(t, ok, "ended after %d messages: %v", i, sub.Err())
		require.Equal(t, fmt.Sprint(i), string(m.Data))
		p, err := m.Position()
		require.NoError(t, err)
		if i > 0 {
			require.True(t, p.Follows(prev), "%s after %s", p, prev)
		}
		prev = p
	}
	require.NoError(t, <-pubErr)
	t.Logf("%d requests cut", cut.Cuts())
	assert.Greater(t, cut.Cuts(), 10, "the test must cut connections")
	select {
	case m := <-sub.C():
		t.Fatalf("unexpected extra message %s", m.ID)
	case <-time.After(20 * time.Millisecond):
	}
}
