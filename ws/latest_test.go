package ws

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/bus"
)

// A subscription with after "latest" gets the topic's newest message
// first, then what follows it; on a topic with no message, what is
// published next. Two connections subscribed so see the same.
func TestSubscribeLatest(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	_, url := newServer(t, &Handler{Broker: b})
	ctx := testCtx(t)
	var ids []string
	for _, d := range []string{"1", "2", "3"} {
		m, err := b.Publish(ctx, "q", bus.Message{Data: []byte(d)})
		require.NoError(t, err)
		ids = append(ids, m.ID)
	}
	c := connect(t, &Client{URL: url})
	s, err := c.Subscribe(ctx, "q", bus.Latest)
	require.NoError(t, err)
	assert.Equal(t, ids[2], recv(t, ctx, s).ID, "the newest only")
	m, err := b.Publish(ctx, "q", bus.Message{Data: []byte("4")})
	require.NoError(t, err)
	assert.Equal(t, m.ID, recv(t, ctx, s).ID)

	other := connect(t, &Client{URL: url})
	s2, err := other.Subscribe(ctx, "q", bus.Latest)
	require.NoError(t, err)
	assert.Equal(t, m.ID, recv(t, ctx, s2).ID)
	e, err := other.Subscribe(ctx, "empty", bus.Latest)
	require.NoError(t, err)
	first, err := b.Publish(ctx, "empty", bus.Message{Data: []byte("first")})
	require.NoError(t, err)
	assert.Equal(t, first.ID, recv(t, ctx, e).ID)
	select {
	case extra := <-s.C():
		t.Fatalf("unexpected %s", extra.ID)
	default:
	}
}

// trimOnce publishes one message before the first Read of a cursor it
// passes on, so that with HistorySize 1 the newest message LatestCursor
// found is gone by then.
type trimOnce struct {
	*bus.Memory
	done atomic.Bool
}

func (b *trimOnce) Read(ctx context.Context, topic, after string, limit int) ([]bus.Message, error) {
	if after != "" && !b.done.Swap(true) {
		if _, err := b.Memory.Publish(ctx, topic, bus.Message{Data: []byte("newer")}); err != nil {
			return nil, err
		}
	}
	return b.Memory.Read(ctx, topic, after, limit)
}

// When the newest message leaves the history between resolving latest and
// replaying it, the subscription starts with the newest one then.
func TestSubscribeLatestTrimmedMeanwhile(t *testing.T) {
	m := &bus.Memory{HistorySize: 1}
	defer m.Close()
	ctx := testCtx(t)
	_, err := m.Publish(ctx, "q", bus.Message{Data: []byte("old")})
	require.NoError(t, err)
	_, url := newServer(t, &Handler{Broker: &trimOnce{Memory: m}})
	c := connect(t, &Client{URL: url})
	s, err := c.Subscribe(ctx, "q", bus.Latest)
	require.NoError(t, err)
	assert.Equal(t, "newer", string(recv(t, ctx, s).Data))
}
