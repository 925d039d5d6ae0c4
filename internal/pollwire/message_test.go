package pollwire

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMessageRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 5, 0, 0, 123456789, time.FixedZone("X", 3600))
	tests := []struct {
		name     string
		m        bus.Message
		contains string
	}{
		{"text", bus.Message{ID: "e1-1", Type: "a.b", Data: []byte(`he said "hi"\n`), Time: at}, `"data":"he said \"hi\"\\n"`},
		{"controls and separators", bus.Message{ID: "e1-2", Data: []byte("\x00\x01\t\r\n\u2028\u2029\x7f")}, `\u0000\u0001\t\r\n\u2028\u2029`},
		{"binary", bus.Message{ID: "e1-3", Data: []byte{0xff, 0xfe, 0, 'a'}}, `"data":"//4AYQ==","encoding":"base64"`},
		{"truncated rune", bus.Message{ID: "e1-4", Data: []byte("é")[:1]}, `"encoding":"base64"`},
		{"empty", bus.Message{ID: "e1-5"}, `"data":""`},
		{"meta", bus.Message{ID: "e1-6", Data: []byte("x"), Meta: map[string]string{"b": "2", "a": "1"}}, `"meta":{"a":"1","b":"2"}`},
		{"binary meta", bus.Message{ID: "e1-7", Type: "t", Meta: map[string]string{"k": "\xff"}}, `"metaEncoding":"base64"`},
		{"binary type", bus.Message{ID: "e1-8", Type: "\xfe"}, `"type":"/g==","data":"","metaEncoding":"base64"`},
		{"emoji", bus.Message{ID: "e1-9", Data: []byte("🙂"), Type: "ü"}, `"data":"🙂"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := AppendMessage(nil, &tc.m)
			assert.Contains(t, string(raw), tc.contains)
			assert.True(t, json.Valid(raw), string(raw))
			got, err := DecodeMessage(raw, "topic")
			require.NoError(t, err)
			assertSame(t, tc.m, got)
		})
	}
}

func assertSame(t *testing.T, want, got bus.Message) {
	t.Helper()
	assert.Equal(t, "topic", got.Topic)
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.Type, got.Type)
	assert.Equal(t, string(want.Data), string(got.Data))
	assert.True(t, want.Time.Equal(got.Time), "%v != %v", want.Time, got.Time)
	if len(want.Meta) == 0 {
		assert.Empty(t, got.Meta)
	} else {
		assert.Equal(t, want.Meta, got.Meta)
	}
}

func TestBatch(t *testing.T) {
	t.Parallel()
	msgs := []bus.Message{{ID: "e-1", Data: []byte("a")}, {ID: "e-2", Data: []byte("b")}}
	raw := AppendBatch(nil, msgs, "e-2")
	assert.Equal(t, `{"messages":[{"id":"e-1","data":"a"},{"id":"e-2","data":"b"}],"cursor":"e-2"}`+"\n", string(raw))
	b, err := DecodeBatch(raw, "topic")
	require.NoError(t, err)
	assert.Equal(t, "e-2", b.Cursor)
	require.Len(t, b.Messages, 2)
	assert.Equal(t, "b", string(b.Messages[1].Data))

	assert.Equal(t, `{"messages":[],"cursor":"e-0"}`+"\n", string(AppendBatch(nil, nil, "e-0")))
}

func TestDecodeBatchRejects(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		``,
		`[]`,
		`{"messages":[]}`,
		`{"messages":[],"cursor":"nope"}`,
		`{"messages":[],"cursor":""}`,
		`{"messages":[{"id":"e-1"}],"cursor":"e-1"}`,
		`{"messages":[{"id":"x","data":""}],"cursor":"e-1"}`,
		`{"messages":[{"id":"e-1","data":"!!","encoding":"base64"}],"cursor":"e-1"}`,
		`{"messages":[{"id":"e-1","data":"","encoding":"gzip"}],"cursor":"e-1"}`,
		`{"messages":[{"id":"e-1","data":"","metaEncoding":"hex"}],"cursor":"e-1"}`,
		`{"messages":[{"id":"e-1","data":"","time":"yesterday"}],"cursor":"e-1"}`,
		`{"messages":[{"id":"e-1","data":"","type":"a\nb"}],"cursor":"e-1"}`,
		`{"messages":[{"id":"e-1","data":"","type":"%%","metaEncoding":"base64"}],"cursor":"e-1"}`,
	} {
		_, err := DecodeBatch([]byte(body), "t")
		assert.ErrorIs(t, err, ErrMalformed, body)
	}
}
