package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// post sends a POST to base+path and decodes its JSON answer into v (when
// not nil); it returns the status.
func post(t *testing.T, base, path string, v any) int {
	t.Helper()
	res, err := http.Post(base+path, "application/x-www-form-urlencoded", nil)
	require.NoError(t, err)
	defer res.Body.Close()
	if v != nil && res.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(res.Body).Decode(v))
	}
	return res.StatusCode
}

// getStats returns the app's stats answer.
func getStats(t *testing.T, base string) stats {
	t.Helper()
	res, err := http.Get(base + "/showcase/stats")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var s stats
	require.NoError(t, json.NewDecoder(res.Body).Decode(&s))
	return s
}

// waitStats returns the app's stats answer once ok accepts it.
func waitStats(t *testing.T, ctx context.Context, base string, ok func(stats) bool) stats {
	t.Helper()
	for {
		s := getStats(t, base)
		if ok(s) {
			return s
		}
		require.NoError(t, ctx.Err(), "stats: %+v", s)
		time.Sleep(10 * time.Millisecond)
	}
}

// offset returns the offset of message id.
func offset(t *testing.T, id string) uint64 {
	t.Helper()
	p, err := bus.ParseID(id)
	require.NoError(t, err)
	return p.Offset
}

// receive returns the texts of the next n messages of sub, checking that
// their ids follow each other from after.
func receive(t *testing.T, ctx context.Context, sub bus.Subscription, after string, n int) (texts []string, last string) {
	t.Helper()
	last = after
	for range n {
		select {
		case m, ok := <-sub.C():
			require.True(t, ok, "subscription ended: %v", sub.Err())
			if last != "" {
				require.Equal(t, offset(t, last)+1, offset(t, m.ID), "%s follows %s", m.ID, last)
			}
			texts, last = append(texts, string(m.Data)), m.ID
		case <-ctx.Done():
			t.Fatalf("got %q of %d messages", texts, n)
		}
	}
	return texts, last
}

// TestShowcaseDrop cuts the connections of the SSE and WebSocket panels at
// the server, as the page's buttons do: the library's clients resume from
// their cursors, nothing missing, and the panels' meters count the
// messages, the bytes and the cuts.
func TestShowcaseDrop(t *testing.T) {
	_, base := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	news, err := sse.NewClient(base+"/sse/{topic}").Subscribe(ctx, newsTopic, "")
	require.NoError(t, err)
	defer news.Close()
	wc := ws.NewClient(base + "/ws")
	require.NoError(t, wc.Connect(ctx))
	defer wc.Close()
	wsNews, err := wc.Subscribe(ctx, newsTopic, "")
	require.NoError(t, err)

	publish(t, base, "before")
	_, sseLast := receive(t, ctx, news, "", 1)
	_, wsLast := receive(t, ctx, wsNews, "", 1)
	for _, panel := range []string{panelSSE, panelWS} {
		var cut map[string]int
		require.Equal(t, http.StatusOK, post(t, base, "/showcase/drop/"+panel, &cut))
		assert.Equal(t, 1, cut["cut"], panel)
	}
	for i := range 3 {
		publish(t, base, "after "+strconv.Itoa(i))
	}
	want := []string{"after 0", "after 1", "after 2"}
	got, _ := receive(t, ctx, news, sseLast, 3)
	assert.Equal(t, want, got)
	got, _ = receive(t, ctx, wsNews, wsLast, 3)
	assert.Equal(t, want, got)

	s := getStats(t, base)
	for _, panel := range []string{panelSSE, panelWS} {
		p := s.Panels[panel]
		assert.Equal(t, int64(1), p.Drops, panel)
		assert.Equal(t, int64(2), p.Requests, "%s: the first connection and the one after the cut", panel)
		// A message handed to a connection as it is cut counts again
		// when it is sent on the next one.
		assert.GreaterOrEqual(t, p.Messages, int64(4), panel)
		assert.Positive(t, p.Bytes, panel)
		assert.Positive(t, p.LatencyMS, panel)
	}
	assert.Equal(t, http.StatusNotFound, post(t, base, "/showcase/drop/nope", nil))
	assert.Equal(t, http.StatusNotFound, post(t, base, "/showcase/drop/inbox", nil))
}

// TestShowcaseDropIdle: a poller holds no request between polls, but
// keeps its connection alive; dropping the panel closes that connection,
// and the next poll opens another one.
func TestShowcaseDropIdle(t *testing.T) {
	_, base := start(t)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	conns := 0
	pollOnce := func() {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+"/poll/news?after=0", nil)
		require.NoError(t, err)
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
			if !i.Reused {
				conns++
			}
		}}
		res, err := c.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
	}
	pollOnce()
	pollOnce()
	assert.Equal(t, 1, conns, "kept alive")
	var cut map[string]int
	require.Equal(t, http.StatusOK, post(t, base, "/showcase/drop/poll", &cut))
	assert.Equal(t, 1, cut["cut"])
	pollOnce()
	assert.Equal(t, 2, conns, "a new connection after the cut")
	assert.Equal(t, int64(3), getStats(t, base).Panels[panelPoll].Requests)
}

// TestShowcaseWebhookRefusals: a forged event is refused with 401, and a
// replay of a delivery is acknowledged as a duplicate and not published
// again; before any delivery there is nothing to replay.
func TestShowcaseWebhookRefusals(t *testing.T) {
	_, base := start(t) // its Dispatcher runs
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	assert.Equal(t, http.StatusConflict, post(t, base, "/showcase/webhook/replay", nil))

	inbox, err := sse.NewClient(base+"/sse/{topic}").Subscribe(ctx, inboxTopic, bus.Oldest)
	require.NoError(t, err)
	defer inbox.Close()
	publish(t, base, "one")
	_, last := receive(t, ctx, inbox, "", 1)
	// The app notes the delivery once the Receiver's publish returned,
	// which may be after the inbox's reader has the message.
	waitStats(t, ctx, base, func(s stats) bool { return s.Panels[panelWebhook].Messages == 1 })

	var forged, replayed refusal
	require.Equal(t, http.StatusOK, post(t, base, "/showcase/webhook/forge", &forged))
	assert.Equal(t, refusal{Status: http.StatusUnauthorized, Answer: forged.Answer}, forged)
	assert.NotEmpty(t, forged.Answer)
	require.Equal(t, http.StatusOK, post(t, base, "/showcase/webhook/replay", &replayed))
	assert.Equal(t, refusal{Status: http.StatusOK, Answer: "duplicate"}, replayed)
	// Neither reached the inbox: the next message there is the next one
	// published.
	publish(t, base, "two")
	got, _ := receive(t, ctx, inbox, last, 1)
	assert.Equal(t, []string{"two"}, got)

	s := waitStats(t, ctx, base, func(s stats) bool { return s.Panels[panelWebhook].Messages == 2 })
	assert.Equal(t, int64(4), s.Panels[panelWebhook].Requests, "two deliveries, a forgery, a replay")
	for _, h := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		assert.NotEmpty(t, s.Webhook.Headers[h], h)
	}
	assert.Equal(t, []string{"1s", "2s", "5s"}, s.Webhook.Schedule)
	require.NotEmpty(t, s.Webhook.Attempts)
	assert.Equal(t, http.StatusOK, s.Webhook.Attempts[0].Status)
}

// TestShowcaseBlock: a transport of the fallback panel switched off
// answers 404, and answers again once switched on; the switches are in
// the stats.
func TestShowcaseBlock(t *testing.T) {
	_, base := start(t)
	status := func(route string) int {
		res, err := http.Get(fmt.Sprintf("%s/rt/%s?topic=news&after=0", base, route))
		require.NoError(t, err)
		_ = res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusOK, status("poll"))
	var blocked map[string]bool
	require.Equal(t, http.StatusOK, post(t, base, "/showcase/block/poll?off=true", &blocked))
	assert.Equal(t, map[string]bool{"websocket": false, "sse": false, "longpoll": false, "poll": true}, blocked)
	assert.Equal(t, http.StatusNotFound, status("poll"))
	assert.True(t, getStats(t, base).Blocked["poll"])
	require.Equal(t, http.StatusOK, post(t, base, "/showcase/block/poll?off=false", nil))
	assert.Equal(t, http.StatusOK, status("poll"))
	assert.Equal(t, http.StatusNotFound, post(t, base, "/showcase/block/carrier-pigeon?off=true", nil))
}
