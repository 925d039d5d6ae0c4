package fanout_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/fanout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHistoryStart(t *testing.T) {
	h := fanout.History{Epoch: "e", Top: 10, First: 4} // retains e-4..e-10
	empty := fanout.History{Epoch: "e", Top: 10, First: 11}
	at := func(epoch string, off uint64) bus.Position { return bus.Position{Epoch: epoch, Offset: off} }
	for _, tc := range []struct {
		name    string
		h       fanout.History
		after   string
		want    bus.Position
		expired bool
	}{
		{"new", h, "", at("e", 10), false},
		{"oldest", h, bus.Oldest, at("e", 3), false},
		{"oldest of empty", empty, bus.Oldest, at("e", 10), false},
		{"oldest of unknown", fanout.History{}, bus.Oldest, at("", 0), false},
		{"just before the oldest", h, "e-3", at("e", 3), false},
		{"inside", h, "e-7", at("e", 7), false},
		{"top", h, "e-10", at("e", 10), false},
		{"top of empty", empty, "e-10", at("e", 10), false},
		{"trimmed", h, "e-2", bus.Position{}, true},
		{"before the top of empty", empty, "e-9", bus.Position{}, true},
		{"beyond the top", h, "e-11", bus.Position{}, true},
		{"other epoch", h, "f-7", bus.Position{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
