package pollwire

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func batch(cursor string, ids ...string) Batch {
	b := Batch{Cursor: cursor}
	for _, id := range ids {
		b.Messages = append(b.Messages, bus.Message{ID: id})
	}
	return b
}

func ids(msgs []bus.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

func TestTracker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		start   string // "" = no position yet
		b       Batch
		want    []string
		cursor  string
		expired bool
	}{
		{"first answer sets the position", "", batch("e-4"), nil, "e-4", false},
		{"oldest: first message sets it", "", batch("e-6", "e-5", "e-6"), []string{"e-5", "e-6"}, "e-6", false},
		{"contiguous", "e-4", batch("e-6", "e-5", "e-6"), []string{"e-5", "e-6"}, "e-6", false},
		{"duplicates dropped", "e-5", batch("e-6", "e-4", "e-5", "e-6"), []string{"e-6"}, "e-6", false},
		{"nothing new", "e-5", batch("e-5"), nil, "e-5", false},
		{"stale cursor ignored", "e-5", batch("e-3"), nil, "e-5", false},
		{"gap", "e-4", batch("e-7", "e-5", "e-7"), []string{"e-5"}, "", true},
		{"cursor skips ahead", "e-4", batch("e-9"), nil, "", true},
		{"other epoch", "e-4", batch("f-5", "f-5"), nil, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := tracker{topic: "t", prefix: "poll"}
			if tc.start != "" {
				p, err := bus.ParseID(tc.start)
				require.NoError(t, err)
				tr.last, tr.has = p, true
			}
			msgs, cursor, err := tr.accept(tc.b, tc.start)
			assert.Equal(t, tc.want, ids(msgs))
			if tc.expired {
				assert.ErrorIs(t, err, bus.ErrCursorExpired)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.cursor, cursor)
		})
	}
}
