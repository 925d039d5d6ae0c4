package natsbus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two brokers with their own connections, as two processes would have,
// share topics through NATS.
func TestTwoInstances(t *testing.T) {
	bustest.RunInstances(t, func(tb testing.TB) (bus.Broker, bus.Broker) {
		stream, prefix := freshStream(tb)
		return newBroker(tb, connect(tb), stream, prefix), newBroker(tb, connect(tb), stream, prefix)
	})
}

// Topics whose names differ only in characters that NATS subjects treat
// specially stay apart, in a stream shared with other topics, and resume
// from every cursor.
func TestSubjectEscaping(t *testing.T) {
	stream, prefix := freshStream(t)
	b := newBroker(t, connect(t), stream, prefix)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topics := []string{"a.b", "a~b", "a~db", "a~tb", "a..b", ".a", "a.", "a/b:c@d+e=f~g", "a_b-c"}
	want := map[string][]bus.Message{}
	for round := range 5 {
		for _, topic := range topics {
			m, err := b.Publish(ctx, topic, bus.Message{Data: fmt.Appendf(nil, "%s/%d", topic, round)})
			require.NoError(t, err, topic)
			want[topic] = append(want[topic], m)
		}
	}
	for _, topic := range topics {
		got, err := b.Read(ctx, topic, bus.Oldest, 0)
		require.NoError(t, err, topic)
		assert.Equal(t, want[topic], got, topic)
		for i, m := range want[topic] {
			sub, err := b.Subscribe(ctx, topic, m.ID)
			require.NoError(t, err)
			if rest := want[topic][i+1:]; len(rest) > 0 {
				assert.Equal(t, rest, bustest.Receive(t, sub, len(rest)), "%s after %s", topic, m.ID)
			}
			require.NoError(t, sub.Close())
		}
	}
}
