package fanout_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/fanout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckArgs(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	open := func() bool { return false }
	shut := func() bool { return true }
	for _, tc := range []struct {
		name         string
		ctx          context.Context
		topic, after string
		closed       func() bool
		want         bus.Position
		err          error
	}{
		{"new", context.Background(), "t", "", open, bus.Position{}, nil},
		{"oldest", context.Background(), "t", bus.Oldest, open, bus.Position{}, nil},
		{"id", context.Background(), "t", "ab-7", open, bus.Position{Epoch: "ab", Offset: 7}, nil},
		{"canceled first", canceled, "", "bad", shut, bus.Position{}, context.Canceled},
		{"topic before cursor", context.Background(), "", "bad", shut, bus.Position{}, bus.ErrInvalidTopic},
		{"cursor before closed", context.Background(), "t", "bad", shut, bus.Position{}, bus.ErrInvalidCursor},
		{"closed", context.Background(), "t", "ab-7", shut, bus.Position{Epoch: "ab", Offset: 7}, bus.ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := fanout.CheckArgs(tc.ctx, tc.topic, tc.after, tc.closed)
			assert.Equal(t, tc.want, p)
			if tc.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.err)
			if errors.Is(tc.err, bus.ErrInvalidCursor) {
				var ce *bus.CursorError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, tc.after, ce.Cursor)
				assert.Equal(t, tc.topic, ce.Topic)
			}
		})
	}
}

func TestCheckPublish(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, fanout.CheckPublish(context.Background(), "t", "kind"))
	require.ErrorIs(t, fanout.CheckPublish(canceled, "", "\x00"), context.Canceled)
	require.ErrorIs(t, fanout.CheckPublish(context.Background(), "", "\x00"), bus.ErrInvalidTopic)
	require.ErrorIs(t, fanout.CheckPublish(context.Background(), "t", "\x00"), bus.ErrInvalidMessage)
}
