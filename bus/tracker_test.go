package bus_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTracker(t *testing.T) {
	t.Parallel()
	type step struct {
		op   string // "accept", "reach", "reset"
		id   string
		want bool // accept: deliver
		gap  bool
	}
	for _, tc := range []struct {
		name   string
		after  string
		steps  []step
		cursor string
	}{
		{"new: any first message", "", []step{{"accept", "e-7", true, false}, {"accept", "e-8", true, false}}, "e-8"},
		{"oldest: any first message", bus.Oldest, []step{{"accept", "e-3", true, false}}, "e-3"},
		{"latest: any first message", bus.Latest, []step{{"accept", "e-3", true, false}, {"accept", "e-4", true, false}}, "e-4"},
		{"latest: its resolved cursor", bus.Latest, []step{{"reach", "e-2", false, false}, {"accept", "e-3", true, false}}, "e-3"},
		{"after an ID", "e-3", []step{{"accept", "e-4", true, false}, {"accept", "e-5", true, false}}, "e-5"},
		{"duplicates dropped", "e-3", []step{{"accept", "e-2", false, false}, {"accept", "e-3", false, false}, {"accept", "e-4", true, false}, {"accept", "e-4", false, false}}, "e-4"},
		{"gap", "e-3", []step{{"accept", "e-5", false, true}}, "e-3"},
		{"other epoch", "e-3", []step{{"accept", "f-4", false, true}}, "e-3"},
		{"invalid ID", "e-3", []step{{"accept", "nonsense", false, true}}, "e-3"},
		{"origin: first message of any epoch", bus.Origin, []step{{"accept", "f-1", true, false}, {"accept", "f-2", true, false}}, "f-2"},
		{"origin: gap", bus.Origin, []step{{"accept", "f-2", false, true}}, bus.Origin},
		{"ack of a new subscription", "", []step{{"reach", "e-9", false, false}, {"accept", "e-10", true, false}}, "e-10"},
		{"ack of origin", "", []step{{"reach", bus.Origin, false, false}, {"accept", "e-1", true, false}}, "e-1"},
		{"batch cursor at the last", "e-3", []step{{"accept", "e-4", true, false}, {"reach", "e-4", false, false}}, "e-4"},
		{"batch cursor behind", "e-3", []step{{"reach", "e-2", false, false}}, "e-3"},
		{"batch cursor skips", "e-3", []step{{"reach", "e-5", false, true}}, "e-3"},
		{"reset to a top", "e-3", []step{{"reset", "g-40", false, false}, {"accept", "g-41", true, false}}, "g-41"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr, err := bus.NewTracker("t", tc.after)
			require.NoError(t, err)
			for i, st := range tc.steps {
				var ok bool
				var err error
				switch st.op {
				case "accept":
					ok, err = tr.Accept(st.id)
				case "reach":
					err = tr.Reach(st.id)
				case "reset":
					err = tr.Reset(st.id)
				}
				if st.gap {
					require.ErrorIs(t, err, bus.ErrCursorExpired, "step %d", i)
					var ce *bus.CursorError
					require.ErrorAs(t, err, &ce)
					assert.Equal(t, "t", ce.Topic)
					break
				}
				require.NoError(t, err, "step %d", i)
				assert.Equal(t, st.want, ok, "step %d %s", i, st.id)
			}
			assert.Equal(t, tc.cursor, tr.Cursor())
		})
	}
	_, err := bus.NewTracker("t", "not a cursor")
	require.ErrorIs(t, err, bus.ErrInvalidCursor)
}
