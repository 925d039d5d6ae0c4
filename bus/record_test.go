package bus_test

import (
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    bus.Message
	}{
		{"empty", bus.Message{Time: time.Unix(0, 0)}},
		{"full", bus.Message{Type: "order.created", Data: []byte(`{"id":1}`), Meta: map[string]string{"k": "v", "": "empty key"}, Time: time.Unix(1700000000, 42)}},
		{"before 1970", bus.Message{Type: "t", Data: []byte{0, 1, 2}, Time: time.Unix(-5, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.m
			in.Topic, in.ID = "ignored", "e-1"
			got := bus.Message{Topic: "kept", ID: "e-2"}
			require.NoError(t, bus.DecodeRecord(bus.AppendRecord(nil, &in), &got))
			assert.Equal(t, "kept", got.Topic)
			assert.Equal(t, "e-2", got.ID)
			assert.Equal(t, tt.m.Type, got.Type)
			assert.Equal(t, string(tt.m.Data), string(got.Data))
			assert.True(t, tt.m.Time.Equal(got.Time), "time %v != %v", got.Time, tt.m.Time)
			if len(tt.m.Meta) == 0 {
				assert.Empty(t, got.Meta)
			} else {
				assert.Equal(t, tt.m.Meta, got.Meta)
			}
		})
	}
}

func TestRecordAppends(t *testing.T) {
	rec := bus.AppendRecord([]byte("prefix"), &bus.Message{Type: "t"})
	assert.Equal(t, "prefix", string(rec[:6]))
	var m bus.Message
	require.NoError(t, bus.DecodeRecord(rec[6:], &m))
	assert.Equal(t, "t", m.Type)
}

func TestRecordCorrupt(t *testing.T) {
	tests := []struct {
		name string
		rec  []byte
	}{
		{"empty", nil},
		{"unknown version", []byte{2, 0, 0, 0}},
		{"truncated time", []byte{1, 0x80}},
		{"no type", []byte{1, 0}},
		{"type too long", []byte{1, 0, 5, 'a'}},
		{"no meta count", []byte{1, 0, 0}},
		{"meta count past the end", []byte{1, 0, 0, 9}},
		{"meta key too long", []byte{1, 0, 0, 1, 4, 'k'}},
		{"meta value missing", []byte{1, 0, 0, 1, 1, 'k'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m bus.Message
			assert.ErrorIs(t, bus.DecodeRecord(tt.rec, &m), bus.ErrInvalidMessage)
		})
	}
}
