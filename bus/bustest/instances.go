package bustest

import (
	"fmt"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RunInstances checks that two instances of a networked broker, as two
// processes would have, share their topics: newPair returns two brokers on
// the same storage (server, key prefix or stream) but each on its own
// connection, sharing no topic with pairs returned earlier. The suite closes
// both through t.Cleanup.
//
// Both instances publish to one topic at once and their subscribers see the
// same contiguous sequence; a consumer that read up to some ID on one
// instance resumes on the other with no gap and no duplicate; Read and Top
// agree on both.
func RunInstances(t *testing.T, newPair func(tb testing.TB) (bus.Broker, bus.Broker)) {
	t.Helper()
	a, b := newPair(t)
	require.NotNil(t, a, "factory returned nil")
	require.NotNil(t, b, "factory returned nil")
	t.Cleanup(func() {
		_ = a.Close()
		_ = b.Close()
	})
	ctx := ctxFor(t)
	topic := topicName("orders/42")

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
	errA, errB := <-errs, <-errs
	require.NoError(t, errA)
	require.NoError(t, errB)
	gotB := receive(t, onB, 2*each)
	gotA := receive(t, onA, 2*each)
	for i := range gotB {
		require.Equal(t, gotB[i].ID, gotA[i].ID)
		require.Equal(t, gotB[i].Data, gotA[i].Data)
		if i > 0 {
			p, q := pos(t, gotB[i]), pos(t, gotB[i-1])
			require.True(t, p.Follows(q), "%s after %s", gotB[i].ID, gotB[i-1].ID)
		}
	}

	// A consumer that read up to some ID on B resumes on A with no gap and
	// no duplicate, and the other way round.
	resumed, err := a.Subscribe(ctx, topic, gotB[99].ID)
	require.NoError(t, err)
	assert.Equal(t, gotB[100:], receive(t, resumed, 2*each-100))
	require.NoError(t, resumed.Close())
	resumed, err = b.Subscribe(ctx, topic, gotA[299].ID)
	require.NoError(t, err)
	more, err := a.Publish(ctx, topic, bus.Message{Data: []byte("more")})
	require.NoError(t, err)
	assert.Equal(t, append(gotA[300:], more), receive(t, resumed, 101))
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
