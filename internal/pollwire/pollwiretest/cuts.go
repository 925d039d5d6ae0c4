package pollwiretest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CutMessages is how many messages CheckNoGapUnderCuts publishes; the
// broker's history must hold them all.
const CutMessages = 10_000

// SubscribeFunc opens a subscription, as bus.Subscriber.Subscribe does.
type SubscribeFunc func(ctx context.Context, topic, after string) (bus.Subscription, error)

// Pace says how CheckNoGapUnderCuts publishes: it sleeps Pause after every
// Every messages, so that requests interleave with publishing.
type Pace struct {
	Every int
	Pause time.Duration
}

// CheckNoGapUnderCuts subscribes to a topic of b with subscribe, which reads
// it over HTTP from a handler that breaks a share of its requests, then
// publishes CutMessages messages to b at pace. It fails t unless every
// message arrives exactly once, in order, with IDs that follow each other,
// nothing more arrives, and cuts, the number of requests broken, has
// passed 10. It closes the subscription before it returns.
func CheckNoGapUnderCuts(t testing.TB, b bus.Broker, subscribe SubscribeFunc, cuts func() int, pace Pace) {
	t.Helper()
	const topic = "load"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sub, err := subscribe(ctx, topic, "")
	require.NoError(t, err)
	defer sub.Close()

	pubErr := make(chan error, 1)
	published := make(chan struct{})
	defer func() { cancel(); <-published }() // on failure too: the publisher ends first
	go func() {
		defer close(published)
		for i := range CutMessages {
			if _, err := b.Publish(ctx, topic, bus.Message{Data: fmt.Append(nil, i)}); err != nil {
				pubErr <- err
				return
			}
			if pace.Every > 0 && i%pace.Every == 0 {
				time.Sleep(pace.Pause)
			}
		}
		pubErr <- nil
	}()
	var prev bus.Position
	for i := range CutMessages {
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
	t.Logf("%d requests cut", cuts())
	assert.Greater(t, cuts(), 10, "the test must cut connections")
	select {
	case m := <-sub.C():
		t.Fatalf("unexpected extra message %s", m.ID)
	case <-time.After(20 * time.Millisecond):
	}
	require.NoError(t, sub.Close())
}
