package bustest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flaky fails its publications while down is set.
type flaky struct {
	bus.Broker
	down atomic.Bool
}

func (f *flaky) Publish(ctx context.Context, topic string, m bus.Message) (bus.Message, error) {
	if f.down.Load() {
		return bus.Message{}, errors.New("down")
	}
	return f.Broker.Publish(ctx, topic, m)
}

// Recovery times the first publication and subscription after each outage
// and counts the failed publications between.
func TestRecovery(t *testing.T) {
	ctx := context.Background()
	b := &bus.Memory{}
	defer b.Close()
	f := &flaky{Broker: b}
	r := &Recovery{Pub: f, Broker: b}

	_, err := r.Publish(ctx, "t", bus.Message{Data: []byte("before")})
	require.NoError(t, err)
	pub, sub, failures := r.Times()
	assert.Empty(t, pub, "no outage yet")
	assert.Empty(t, sub)
	assert.Zero(t, failures)

	r.Failed()
	f.down.Store(true)
	for range 3 {
		_, err := r.Publish(ctx, "t", bus.Message{Data: []byte("lost")})
		require.Error(t, err)
	}
	f.down.Store(false)
	_, err = r.Publish(ctx, "t", bus.Message{Data: []byte("after")})
	require.NoError(t, err)
	_, err = r.Publish(ctx, "t", bus.Message{Data: []byte("later")})
	require.NoError(t, err)
	s, err := r.Subscribe(ctx, "t", "")
	require.NoError(t, err)
	defer s.Close()

	pub, sub, failures = r.Times()
	assert.Len(t, pub, 1, "one recovery of publishing per outage")
	assert.Len(t, sub, 1, "one recovery of the consumer per outage")
	assert.Equal(t, 3, failures)
	r.Report(t, "flaky")
}
