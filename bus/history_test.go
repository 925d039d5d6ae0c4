package bus_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHistoryStart(t *testing.T) {
	h := bus.History{Epoch: "e", Top: 10, First: 4} // retains e-4..e-10
	empty := bus.History{Epoch: "e", Top: 10, First: 11}
	at := func(epoch string, off uint64) bus.Position { return bus.Position{Epoch: epoch, Offset: off} }
	for _, tc := range []struct {
		name    string
		h       bus.History
		after   string
		want    bus.Position
		expired bool
	}{
		{"new", h, "", at("e", 10), false},
		{"oldest", h, bus.Oldest, at("e", 3), false},
		{"oldest of empty", empty, bus.Oldest, at("e", 10), false},
		{"oldest of unknown", bus.History{}, bus.Oldest, at("", 0), false},
		{"just before the oldest", h, "e-3", at("e", 3), false},
		{"inside", h, "e-7", at("e", 7), false},
		{"top", h, "e-10", at("e", 10), false},
		{"top of empty", empty, "e-10", at("e", 10), false},
		{"trimmed", h, "e-2", bus.Position{}, true},
		{"before the top of empty", empty, "e-9", bus.Position{}, true},
		{"beyond the top", h, "e-11", bus.Position{}, true},
		{"other epoch", h, "f-7", bus.Position{}, true},
		{"origin of unknown", bus.History{}, bus.Origin, at("", 0), false},
		{"new of unknown", bus.History{}, "", at("", 0), false},
		{"origin of a whole history", bus.History{Epoch: "e", Top: 10, First: 1}, bus.Origin, at("e", 0), false},
		{"origin of a topic with no message", bus.History{Epoch: "e", First: 1}, bus.Origin, at("e", 0), false},
		{"origin trimmed", h, bus.Origin, bus.Position{}, true},
		{"origin of an expired history", empty, bus.Origin, bus.Position{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var p bus.Position
			if tc.after != "" && tc.after != bus.Oldest {
				var err error
				p, err = bus.ParseID(tc.after)
				require.NoError(t, err)
			}
			got, err := tc.h.Start("t", tc.after, p)
			if !tc.expired {
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
				assert.True(t, tc.after == "" || tc.after == bus.Oldest || tc.h.Serves(p))
				return
			}
			require.ErrorIs(t, err, bus.ErrCursorExpired)
			assert.False(t, tc.h.Serves(p))
			top, ok := bus.TopOf(err)
			assert.True(t, ok)
			assert.Equal(t, "e-10", top)
		})
	}
}

func TestHistoryTop(t *testing.T) {
	assert.Equal(t, bus.Origin, bus.History{}.TopID())
	assert.Equal(t, bus.Origin, bus.History{Epoch: "e", First: 1}.TopID(), "no message yet")
	assert.Equal(t, "e-3", bus.History{Epoch: "e", Top: 3, First: 4}.TopID(), "expired messages keep the top")
	err := bus.History{}.Expired("t", "x-1")
	top, ok := bus.TopOf(err)
	assert.True(t, ok)
	assert.Equal(t, bus.Origin, top)
}

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
			p, err := bus.CheckArgs(tc.ctx, tc.topic, tc.after, tc.closed)
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
	require.NoError(t, bus.CheckPublish(context.Background(), "t", &bus.Message{Type: "kind"}))
	require.ErrorIs(t, bus.CheckPublish(canceled, "", &bus.Message{Type: "\x00"}), context.Canceled)
	require.ErrorIs(t, bus.CheckPublish(context.Background(), "", &bus.Message{Type: "\x00"}), bus.ErrInvalidTopic)
	require.ErrorIs(t, bus.CheckPublish(context.Background(), "t", &bus.Message{Type: "\x00"}), bus.ErrInvalidMessage)
}
