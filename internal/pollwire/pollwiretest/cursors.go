package pollwiretest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CheckCursors checks that a poll or long-poll handler of b served at base
// and a client's subscribe give the cursors their one meaning, shared by
// both packages and by every bus.Subscriber:
//
//   - "" (no after parameter): from now on. The answer has no message and
//     the topic's top as its cursor; a subscription delivers only what is
//     published after Subscribe returned.
//   - pollwire.Latest: the newest message, then what follows. The answer is
//     the newest message with its ID as the cursor (no message and the top
//     for a topic without any); a subscription delivers it, then the rest.
//   - bus.Oldest: every retained message, then what follows.
//
// Requests are sent with timeout=0, which a long-poll handler honours and
// a poll handler ignores.
func CheckCursors(t testing.TB, b bus.Broker, base string, subscribe SubscribeFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	old := Publish(t, b, "dash", "19.5", "20.1")
	now := old[1].ID

	for _, tc := range []struct {
		topic, after string
		data         []string
		cursor       string
	}{
		{"dash", "", nil, now},
		{"dash", pollwire.Latest, []string{"20.1"}, now},
		{"dash", bus.Oldest, []string{"19.5", "20.1"}, now},
		{"void", "", nil, bus.Origin},
		{"void", pollwire.Latest, nil, bus.Origin},
	} {
		data, cursor := get(t, ctx, base, tc.topic, tc.after)
		assert.Equal(t, tc.data, data, "messages of topic %s after %q", tc.topic, tc.after)
		assert.Equal(t, tc.cursor, cursor, "cursor of topic %s after %q", tc.topic, tc.after)
	}

	subs := map[string]bus.Subscription{}
	for _, after := range []string{"", pollwire.Latest, bus.Oldest} {
		sub, err := subscribe(ctx, "dash", after)
		require.NoError(t, err, "subscribe after %q", after)
		defer sub.Close()
		subs[after] = sub
	}
	empty, err := subscribe(ctx, "void", pollwire.Latest)
	require.NoError(t, err, "subscribe to an empty topic after Latest")
	defer empty.Close()
	Publish(t, b, "dash", "20.7")
	Publish(t, b, "void", "first")

	for _, tc := range []struct {
		after string
		sub   bus.Subscription
		want  []string
	}{
		{"", subs[""], []string{"20.7"}},
		{pollwire.Latest, subs[pollwire.Latest], []string{"20.1", "20.7"}},
		{bus.Oldest, subs[bus.Oldest], []string{"19.5", "20.1", "20.7"}},
		{pollwire.Latest + " on an empty topic", empty, []string{"first"}},
	} {
		for i, want := range tc.want {
			// One at a time: a wrong first message fails at once rather
			// than after a wait for messages that never come.
			m := Receive(t, tc.sub, 1, 30*time.Second)[0]
			require.Equal(t, want, string(m.Data), "message %d of the subscription after %q", i, tc.after)
		}
	}
}

// get sends a request for topic after the cursor after and returns the
// data of the messages of the answer and its cursor.
func get(t testing.TB, ctx context.Context, base, topic, after string) ([]string, string) {
	t.Helper()
	q := url.Values{"topic": {topic}, "timeout": {"0"}}
	if after != "" {
		q.Set("after", after)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"?"+q.Encode(), nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "topic %s after %q", topic, after)
	var a struct {
		Messages []struct{ Data string }
		Cursor   string
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&a))
	var data []string
	for _, m := range a.Messages {
		data = append(data, m.Data)
	}
	return data, a.Cursor
}
