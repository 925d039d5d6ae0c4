package sse

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}

func (r *recorder) records() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slog.Record(nil), r.recs...)
}

func attrs(rec slog.Record) map[string]string {
	m := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

// reconnect opens a stream of topic with Last-Event-ID cursor, reads until
// the reset event and closes it.
func reconnect(t *testing.T, url, topic, cursor string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/events/"+topic, nil)
	require.NoError(t, err)
	req.Header.Set("Last-Event-ID", cursor)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	readUntil(t, bufio.NewReader(resp.Body), "event: reset\n")
}

// A reconnection whose Last-Event-ID has left the history is logged at Warn,
// once per topic, with the advice on sizing the history; other resets are
// not about the history's size and are not logged.
func TestHandlerWarnsHistoryTooSmall(t *testing.T) { modes(t, warnsHistoryTooSmall) }

func warnsHistoryTooSmall(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{HistorySize: 3}
	defer b.Close()
	rec := &recorder{}
	h := &Handler{Broker: b, Logger: slog.New(rec), DisableHijack: disableHijack}
	srv := serve(t, h)
	first, top := map[string]string{}, map[string]string{}
	for _, topic := range []string{"a", "b", "c"} {
		ms := publish(t, b, topic, make([]bus.Message, 6)...)
		first[topic], top[topic] = ms[0].ID, ms[5].ID
	}

	reconnect(t, srv.URL, "a", first["a"])
	reconnect(t, srv.URL, "a", first["a"])
	reconnect(t, srv.URL, "b", first["b"])
	reconnect(t, srv.URL, "b", first["b"])
	epoch := strings.Split(top["c"], "-")[0]
	reconnect(t, srv.URL, "c", "otherepoch-3") // another epoch: the broker lost its history
	reconnect(t, srv.URL, "c", epoch+"-99")    // beyond the top

	recs := rec.records()
	require.Len(t, recs, 2, "one warning per topic")
	for i, topic := range []string{"a", "b"} {
		r := recs[i]
		assert.Equal(t, slog.LevelWarn, r.Level)
		assert.Contains(t, r.Message, "history")
		assert.Contains(t, r.Message, "rate × (the retry time + the clients' backoff)")
		assert.Equal(t, map[string]string{"topic": topic, "cursor": first[topic], "top": top[topic],
			"behind": "5", "retry": DefaultRetry.String()}, attrs(r))
	}

	// Without a Logger the reset is the same, and nothing is logged.
	quiet := serve(t, &Handler{Broker: b, DisableHijack: disableHijack})
	reconnect(t, quiet.URL, "c", first["c"])
}

// The set of topics warned about is bounded: past the bound one more
// warning says so, then further topics are not logged.
func TestHandlerWarnsBounded(t *testing.T) { modes(t, warnsBounded) }

func warnsBounded(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{HistorySize: 1}
	defer b.Close()
	rec := &recorder{}
	h := &Handler{Broker: b, Logger: slog.New(rec), warnCap: 3, DisableHijack: disableHijack}
	srv := serve(t, h)
	for round := range 2 {
		for i := range 5 {
			topic := fmt.Sprint("t", i)
			ms := publish(t, b, topic, make([]bus.Message, 3)...)
			reconnect(t, srv.URL, topic, ms[0].ID)
		}
		recs := rec.records()
		require.Len(t, recs, 4, "round %d", round)
		for i, r := range recs[:3] {
			assert.Equal(t, fmt.Sprint("t", i), attrs(r)["topic"])
		}
		assert.Contains(t, recs[3].Message, "further topics are not logged")
		assert.Equal(t, "3", attrs(recs[3])["topics"])
	}
	h.warnMu.Lock()
	defer h.warnMu.Unlock()
	assert.Len(t, h.warned, 3)
}
