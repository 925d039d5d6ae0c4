package longpoll_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire/pollwiretest"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// queuedBroker is a broker whose history is never read (Read finds
// nothing) and whose subscriptions start with queued already queued: the
// situation of a hub that receives a burst, several messages waiting on its
// subscription when it wakes.
type queuedBroker struct {
	bus.Broker
	queued []bus.Message
}

func (b *queuedBroker) Read(context.Context, string, string, int) ([]bus.Message, error) {
	return nil, nil
}

func (b *queuedBroker) Subscribe(context.Context, string, string) (bus.Subscription, error) {
	s := &queuedSub{ch: make(chan bus.Message, len(b.queued))}
	for _, m := range b.queued {
		s.ch <- m
	}
	return s, nil
}

type queuedSub struct {
	ch   chan bus.Message
	once sync.Once
}

func (s *queuedSub) C() <-chan bus.Message { return s.ch }
func (s *queuedSub) Err() error            { return nil }
func (s *queuedSub) Close() error          { s.once.Do(func() { close(s.ch) }); return nil }

// get requests target from srv and decodes the answer.
func get(t *testing.T, srv *httptest.Server, target string) answer {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + target)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return result{code: resp.StatusCode, header: resp.Header, body: body}.answer(t)
}

// A held request woken by the first message of a burst answers with every
// message the burst left queued, up to its limit, and each group of
// requests with the same cursor and limit gets the same answer.
func TestHandlerWokenTakesTheWholeBurst(t *testing.T) {
	mem := &bus.Memory{}
	defer mem.Close()
	top, err := mem.Top(t.Context(), "news")
	require.NoError(t, err)
	msgs := pollwiretest.Publish(t, mem, "news", "a", "b", "c", "d", "e")
	h := &longpoll.Handler{Broker: &queuedBroker{Broker: mem, queued: msgs}}
	srv := httptest.NewServer(h)
	defer srv.Close()

	type got struct {
		limit int
		a     answer
	}
	results := make(chan got, 20)
	for i := range 20 {
		limit := 100
		if i%2 == 1 {
			limit = 2
		}
		go func() {
			resp, err := srv.Client().Get(srv.URL + fmt.Sprintf("/?topic=news&after=%s&limit=%d", top, limit))
			if err != nil {
				results <- got{limit: -1}
				return
			}
			defer resp.Body.Close()
			var a answer
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || decode(body, &a) != nil {
				results <- got{limit: -1}
				return
			}
			results <- got{limit: limit, a: a}
		}()
	}
	for range 20 {
		g := <-results
		require.NotEqual(t, -1, g.limit, "a request failed")
		if g.limit == 2 {
			assert.Equal(t, []string{"a", "b"}, g.a.data())
			assert.Equal(t, msgs[1].ID, g.a.Cursor)
		} else {
			assert.Equal(t, []string{"a", "b", "c", "d", "e"}, g.a.data(), "one answer for the whole burst")
			assert.Equal(t, msgs[4].ID, g.a.Cursor)
		}
	}
}

// A client far behind reads the history in whole batches of Limit
// messages, then is held at the top.
func TestHandlerBehindReadsWholeBatches(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	data := make([]string, 250)
	for i := range data {
		data[i] = fmt.Sprint(i)
	}
	msgs := pollwiretest.Publish(t, b, "news", data...)
	srv := httptest.NewServer(&longpoll.Handler{Broker: b, Limit: 100})
	defer srv.Close()
	cursor := bus.Origin
	var sizes []int
	var all []string
	for len(all) < len(data) {
		a := get(t, srv, "/?topic=news&after="+cursor)
		sizes = append(sizes, len(a.Messages))
		all = append(all, a.data()...)
		cursor = a.Cursor
	}
	assert.Equal(t, []int{100, 100, 50}, sizes)
	assert.Equal(t, data, all)
	assert.Equal(t, msgs[249].ID, cursor)
	a := get(t, srv, "/?topic=news&timeout=0&after="+cursor)
	assert.Empty(t, a.Messages)
	assert.Equal(t, cursor, a.Cursor)
}

func decode(body []byte, a *answer) error { return json.Unmarshal(body, a) }

// An answer stops before the message that would take its messages past
// about 1 MiB, and carries one message however large: read from the
// history or woken by a burst.
func TestHandlerAnswerBytesBounded(t *testing.T) {
	big := strings.Repeat("x", 600<<10)
	mem := &bus.Memory{}
	defer mem.Close()
	top, err := mem.Top(t.Context(), "news")
	require.NoError(t, err)
	msgs := pollwiretest.Publish(t, mem, "news", big, big, big)

	srv := httptest.NewServer(&longpoll.Handler{Broker: mem})
	defer srv.Close()
	cursor := top
	for i := range 3 {
		a := get(t, srv, "/?topic=news&after="+cursor)
		require.Len(t, a.Messages, 1, "from the history")
		assert.Equal(t, msgs[i].ID, a.Cursor)
		cursor = a.Cursor
	}

	queued := httptest.NewServer(&longpoll.Handler{Broker: &queuedBroker{Broker: mem, queued: msgs}})
	defer queued.Close()
	a := get(t, queued, "/?topic=news&after="+top)
	require.Len(t, a.Messages, 1, "woken by a burst")
	assert.Equal(t, big, a.Messages[0].Data)
	assert.Equal(t, msgs[0].ID, a.Cursor)
}
