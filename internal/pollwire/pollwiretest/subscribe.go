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

// Publish publishes one message per data string to topic and returns them
// as stored, failing t on an error.
func Publish(t testing.TB, b bus.Broker, topic string, data ...string) []bus.Message {
	t.Helper()
	var out []bus.Message
	for _, d := range data {
		m, err := b.Publish(context.Background(), topic, bus.Message{Data: []byte(d)})
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

// Receive reads n messages from sub, failing t when the subscription ends
// first or when timeout passes.
func Receive(t testing.TB, sub bus.Subscription, n int, timeout time.Duration) []bus.Message {
	t.Helper()
	var out []bus.Message
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case m, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription ended after %d of %d messages: %v", len(out), n, sub.Err())
			}
			out = append(out, m)
		case <-deadline:
			t.Fatalf("timed out after %d of %d messages", len(out), n)
		}
	}
	return out
}

// CheckSameInstant publishes n messages stamped with one instant to topic
// of b and fails t unless sub delivers them all, in order, with that time:
// IDs, not times, must carry the order. Within a synctest bubble the clock
// stands still, so the instant is also the publishing time.
func CheckSameInstant(t testing.TB, b bus.Broker, topic string, sub bus.Subscription, n int) {
	t.Helper()
	at := time.Now()
	for i := range n {
		_, err := b.Publish(context.Background(), topic, bus.Message{Data: fmt.Append(nil, i), Time: at})
		require.NoError(t, err)
	}
	got := Receive(t, sub, n, time.Hour)
	for i, m := range got {
		assert.Equal(t, fmt.Sprint(i), string(m.Data))
		assert.True(t, m.Time.Equal(at), "time of %d", i)
	}
}
