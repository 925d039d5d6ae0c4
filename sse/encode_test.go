package sse

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		m    bus.Message
	}{
		{"LF in id", bus.Message{ID: "a\n-1"}},
		{"CR in id", bus.Message{ID: "a\r-1"}},
		{"NUL in id", bus.Message{ID: "a\x00-1"}},
		{"LF in type", bus.Message{ID: "a-1", Type: "x\ny"}},
		{"CR in type", bus.Message{ID: "a-1", Type: "x\r"}},
		{"NUL in type", bus.Message{ID: "a-1", Type: "\x00"}},
		{"reserved type", bus.Message{ID: "a-1", Type: ResetEvent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := appendMessage([]byte("kept"), &tc.m)
			assert.ErrorIs(t, err, ErrEncode)
			assert.Equal(t, "kept", string(out), "nothing written")
		})
	}
}

func TestEncodeLines(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ data, want string }{
		{"", "data: \n"},
		{"a", "data: a\n"},
		{" a", "data:  a\n"},
		{"a\r\nb", "data: a\ndata: b\n"},
		{"a\rb\nc", "data: a\ndata: b\ndata: c\n"},
		{"a\n\nb", "data: a\ndata: \ndata: b\n"},
		{"a\r", "data: a\ndata: \n"},
		{"\r\n", "data: \ndata: \n"},
	} {
		m := bus.Message{ID: "e-1", Data: []byte(tc.data)}
		out, err := appendMessage(nil, &m)
		require.NoError(t, err)
		assert.Equal(t, "id: e-1\n"+tc.want+"\n", string(out), "%q", tc.data)
	}
}

// A message that cannot be encoded is skipped, never written; the Client
// sees the gap and says so.
func TestHandlerSkipsUnencodable(t *testing.T) { modes(t, skipsUnencodable) }

func skipsUnencodable(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	srv := serve(t, &Handler{Broker: b, DisableHijack: disableHijack})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := NewClient(srv.URL+"/events/{topic}").Subscribe(ctx, "s", "")
	require.NoError(t, err)
	publish(t, b, "s", bus.Message{Data: []byte("1")}, bus.Message{Type: ResetEvent, Data: []byte("2")}, bus.Message{Data: []byte("3")})
	m := <-sub.C()
	assert.Equal(t, "1", string(m.Data))
	_, open := <-sub.C()
	assert.False(t, open)
	assert.ErrorIs(t, sub.Err(), bus.ErrCursorExpired)
}

// expiringBroker ends every subscription at once with ErrCursorExpired, as
// a broker does for a subscriber whose position left the history.
type expiringBroker struct{ bus.Broker }

func (b expiringBroker) Subscribe(ctx context.Context, topic, after string) (bus.Subscription, error) {
	return &endedSub{err: &bus.CursorError{Topic: topic, Cursor: after, Top: "e-77", Err: bus.ErrCursorExpired}}, nil
}

type endedSub struct{ err error }

func (s *endedSub) C() <-chan bus.Message {
	ch := make(chan bus.Message)
	close(ch)
	return ch
}
func (s *endedSub) Err() error   { return s.err }
func (s *endedSub) Close() error { return nil }

func TestHandlerResetMidStream(t *testing.T) { modes(t, resetMidStream) }

func resetMidStream(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	srv := serve(t, &Handler{Broker: expiringBroker{b}, Retry: -1, DisableHijack: disableHijack})
	req, _ := http.NewRequest("GET", srv.URL+"/events/x", nil)
	req.Header.Set("Last-Event-ID", "e-5")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	got := readUntil(t, r, "\"}\n\n")
	assert.Equal(t, ":ok\n\nevent: reset\nid: e-77\ndata: {\"top\":\"e-77\"}\n\n", got)
	rest, err := io.ReadAll(r)
	assert.NoError(t, err, "the stream ends cleanly")
	assert.Empty(t, rest)
}
