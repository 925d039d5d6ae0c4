package webhook

import (
	"context"
	"encoding/base64"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCursorStores(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, s := range map[string]CursorStore{"memory": &MemoryCursors{}, "file": &FileCursors{Dir: dir + "/sub"}} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c, err := s.Load(ctx, "ep|topic/with:odd chars")
			require.NoError(t, err)
			assert.Empty(t, c)
			require.NoError(t, s.Save(ctx, "ep|topic/with:odd chars", "abc-1"))
			require.NoError(t, s.Save(ctx, "ep|topic/with:odd chars", "abc-2"))
			require.NoError(t, s.Save(ctx, "other", "abc-9"))
			c, err = s.Load(ctx, "ep|topic/with:odd chars")
			require.NoError(t, err)
			assert.Equal(t, "abc-2", c)
		})
	}
	// A new FileCursors on the same directory reads what was saved.
	c, err := (&FileCursors{Dir: dir + "/sub"}).Load(context.Background(), "other")
	require.NoError(t, err)
	assert.Equal(t, "abc-9", c)
	entries, err := os.ReadDir(dir + "/sub")
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no temporary files left")
	_, err = (&FileCursors{}).Load(context.Background(), "x")
	assert.Error(t, err)
}

func TestMemoryIdempotency(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	s := &MemoryIdempotency{Clock: func() time.Time { return now }}
	ctx := context.Background()
	st, err := s.Claim(ctx, "a", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, Claimed, st)
	st, _ = s.Claim(ctx, "a", time.Minute)
	assert.Equal(t, InProgress, st)
	require.NoError(t, s.Complete(ctx, "a", time.Hour))
	st, _ = s.Claim(ctx, "a", time.Minute)
	assert.Equal(t, Done, st)
	now = now.Add(time.Hour) // expired: free again
	st, _ = s.Claim(ctx, "a", time.Minute)
	assert.Equal(t, Claimed, st)
	require.NoError(t, s.Release(ctx, "a"))
	st, _ = s.Claim(ctx, "a", time.Minute)
	assert.Equal(t, Claimed, st)
	// Expired keys are swept as claims go on.
	for i := range 2048 {
		now = now.Add(time.Second)
		_, _ = s.Claim(ctx, string(rune('a'+i%26))+time.Duration(i).String(), time.Millisecond)
	}
	assert.Less(t, s.Len(), 1100)
}

func TestPayloadEncoding(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 12, 0, 0, 5, time.UTC)
	tests := []struct {
		name, data, want string
	}{
		{"json object kept byte for byte", `{"b": 2,  "a":1}`, `{"type":"t","timestamp":"2026-11-27T12:00:00.000000005Z","data":{"b": 2,  "a":1}}`},
		{"json string", `"hi"`, `{"type":"t","timestamp":"2026-11-27T12:00:00.000000005Z","data":"hi"}`},
		{"text", `hello`, `{"type":"t","timestamp":"2026-11-27T12:00:00.000000005Z","data":"aGVsbG8=","encoding":"base64"}`},
		{"padded json", ` {} `, `{"type":"t","timestamp":"2026-11-27T12:00:00.000000005Z","data":"IHt9IA==","encoding":"base64"}`},
		{"empty", ``, `{"type":"t","timestamp":"2026-11-27T12:00:00.000000005Z","data":"","encoding":"base64"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body, err := NewPayload(bus.Message{Type: "t", Data: []byte(tc.data), Time: at}).MarshalJSON()
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(body))
			p, err := ParsePayload(body)
			require.NoError(t, err)
			data, err := p.Bytes()
			require.NoError(t, err)
			assert.Equal(t, tc.data, string(data))
			assert.True(t, p.Timestamp.Equal(at))
		})
	}
	a := MessageID(bus.Message{Topic: "a", ID: "e-1"})
	assert.NoError(t, checkID(a))
	assert.Equal(t, a, MessageID(bus.Message{Topic: "a", ID: "e-1"}))
	assert.NotEqual(t, a, MessageID(bus.Message{Topic: "b", ID: "e-1"}))
}

// Every valid endpoint ID and topic has a cursor file, however long: the
// file is named after a hash of the key and holds the key itself.
func TestFileCursorsLongKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := &FileCursors{Dir: dir}
	long := strings.Repeat("e", 300) + "|" + strings.Repeat("t", bus.MaxTopicLen)
	other := strings.Repeat("e", 300) + "|" + strings.Repeat("t", bus.MaxTopicLen-1) + "u"
	require.NoError(t, s.Save(ctx, long, "abc-1"))
	require.NoError(t, s.Save(ctx, other, "abc-2"))
	c, err := (&FileCursors{Dir: dir}).Load(ctx, long)
	require.NoError(t, err)
	assert.Equal(t, "abc-1", c)
	c, err = s.Load(ctx, other)
	require.NoError(t, err)
	assert.Equal(t, "abc-2", c)
	c, err = s.Load(ctx, long+"x")
	require.NoError(t, err)
	assert.Empty(t, c, "never saved")

	// A file that holds another key's cursor (a hash collision, or a file
	// copied by hand) is refused, not misread.
	b, err := os.ReadFile(s.path(other))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(s.path(long), b, 0o600))
	_, err = s.Load(ctx, long)
	assert.ErrorContains(t, err, "holds the cursor of")
	require.NoError(t, os.WriteFile(s.path(long), []byte("abc-1"), 0o600))
	_, err = s.Load(ctx, long)
	assert.Error(t, err, "not a cursor file")
}

// Files of the earlier naming, the base64 of the key, are still read; the
// next Save replaces them.
func TestFileCursorsReadsEarlierNaming(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	key := "ep|orders"
	legacy := filepath.Join(dir, base64.RawURLEncoding.EncodeToString([]byte(key))+".cursor")
	require.NoError(t, os.WriteFile(legacy, []byte("abc-7"), 0o600))
	s := &FileCursors{Dir: dir}
	c, err := s.Load(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "abc-7", c)
	require.NoError(t, s.Save(ctx, key, "abc-8"))
	_, err = os.Stat(legacy)
	assert.ErrorIs(t, err, fs.ErrNotExist, "the old file is replaced")
	c, err = (&FileCursors{Dir: dir}).Load(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "abc-8", c)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}
