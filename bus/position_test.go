package bus_test

import (
	"strings"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseID(t *testing.T) {
	t.Parallel()
	good := []struct {
		id   string
		want bus.Position
	}{
		{"a-0", bus.Position{Epoch: "a", Offset: 0}},
		{"abc123-42", bus.Position{Epoch: "abc123", Offset: 42}},
		{"Z9-18446744073709551615", bus.Position{Epoch: "Z9", Offset: 1<<64 - 1}},
		{strings.Repeat("e", bus.MaxEpochLen) + "-1", bus.Position{Epoch: strings.Repeat("e", bus.MaxEpochLen), Offset: 1}},
		{bus.Origin, bus.Position{}},
	}
	for _, tc := range good {
		got, err := bus.ParseID(tc.id)
		require.NoError(t, err, tc.id)
		assert.Equal(t, tc.want, got, tc.id)
		assert.Equal(t, tc.id, got.ID(), "round trip")
	}
	bad := []string{
		"", "-", "-1", "a", "a-", "1", "0", "a-b", "a-01", "a-00", "a--1", "a-+1", "a- 1", "a-1 ",
		"a-1.0", "a_b-1", "é-1", "a-18446744073709551616", "a-99999999999999999999",
		strings.Repeat("e", bus.MaxEpochLen+1) + "-1", "a\n-1", "a-1\x00", "a-1\r\n",
		"0-1", "0-00", // the epoch "0" is Origin's
	}
	for _, id := range bad {
		_, err := bus.ParseID(id)
		assert.ErrorIs(t, err, bus.ErrInvalidCursor, "%q", id)
	}
}

func TestPositionOrder(t *testing.T) {
	t.Parallel()
	p := bus.Position{Epoch: "e", Offset: 5}
	assert.True(t, bus.Position{Epoch: "e", Offset: 6}.Follows(p))
	assert.False(t, bus.Position{Epoch: "e", Offset: 7}.Follows(p), "gap")
	assert.False(t, bus.Position{Epoch: "e", Offset: 5}.Follows(p), "duplicate")
	assert.False(t, bus.Position{Epoch: "f", Offset: 6}.Follows(p), "other epoch")
	assert.True(t, bus.Position{Epoch: "e", Offset: 6}.After(p))
	assert.False(t, bus.Position{Epoch: "e", Offset: 4}.After(p))
	assert.False(t, bus.Position{Epoch: "f", Offset: 9}.After(p), "epochs are not ordered")
	assert.Equal(t, "e-5", p.String())

	origin := bus.Position{}
	assert.True(t, origin.IsZero())
	assert.False(t, p.IsZero())
	assert.True(t, bus.Position{Epoch: "e", Offset: 1}.Follows(origin), "the first message of any epoch follows Origin")
	assert.True(t, bus.Position{Epoch: "f", Offset: 1}.Follows(origin))
	assert.False(t, bus.Position{Epoch: "e", Offset: 2}.Follows(origin), "gap after Origin")
	assert.False(t, origin.Follows(origin))
	assert.True(t, p.After(origin))
	assert.False(t, origin.After(p))
	assert.False(t, bus.Position{Epoch: "e"}.After(origin))
	assert.Equal(t, bus.Origin, origin.ID())
}

func TestValidateTopic(t *testing.T) {
	t.Parallel()
	for _, topic := range []string{"a", "orders", "orders.eu-west_1", "user:42/inbox", "x@y+z=w~v", strings.Repeat("t", bus.MaxTopicLen)} {
		assert.NoError(t, bus.ValidateTopic(topic), topic)
	}
	for _, topic := range []string{"", " ", "a b", "a\tb", "a\nb", "a*", "a>", "a?b", "a#b", "a%20", "é", "a\x00", strings.Repeat("t", bus.MaxTopicLen+1)} {
		assert.ErrorIs(t, bus.ValidateTopic(topic), bus.ErrInvalidTopic, "%q", topic)
	}
}

func TestValidateType(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"", "payment.succeeded", "with space", "ünïcode"} {
		assert.NoError(t, bus.ValidateType(typ), typ)
	}
	for _, typ := range []string{"a\nb", "a\rb", "a\x00", "\x7f", strings.Repeat("t", bus.MaxTypeLen+1)} {
		assert.ErrorIs(t, bus.ValidateType(typ), bus.ErrInvalidMessage, "%q", typ)
	}
}

func TestCursorError(t *testing.T) {
	t.Parallel()
	err := error(&bus.CursorError{Topic: "t", Cursor: "e-9", Top: "e-3", Err: bus.ErrCursorExpired})
	assert.ErrorIs(t, err, bus.ErrCursorExpired)
	top, ok := bus.TopOf(err)
	assert.True(t, ok)
	assert.Equal(t, "e-3", top)
	assert.Contains(t, err.Error(), `top "e-3"`)
	_, ok = bus.TopOf(bus.ErrClosed)
	assert.False(t, ok)
}
