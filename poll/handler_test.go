package poll_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire/pollwiretest"
	"github.com/pushpull/pushpull/poll"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type answer struct {
	Messages []struct {
		ID       string            `json:"id"`
		Type     string            `json:"type"`
		Data     string            `json:"data"`
		Encoding string            `json:"encoding"`
		Time     string            `json:"time"`
		Meta     map[string]string `json:"meta"`
	} `json:"messages"`
	Cursor string `json:"cursor"`
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Top     string `json:"top"`
}

func serve(h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlerAnswers(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	t.Cleanup(func() { b.Close() })
	msgs := pollwiretest.Publish(t, b, "news", "a", "b", "c")
	top, err := b.Top(context.Background(), "news")
	require.NoError(t, err)
	emptyTop, err := b.Top(context.Background(), "empty")
	require.NoError(t, err)
	h := &poll.Handler{Broker: b, Limit: 2}

	tests := []struct {
		name   string
		target string
		ids    []string
		cursor string
	}{
		{"no cursor: from now on, the top only", "/?topic=news", nil, top},
		{"no cursor, limit 0: top only", "/?topic=news&limit=0", nil, top},
		{"latest: the newest message only", "/?topic=news&after=latest", []string{msgs[2].ID}, msgs[2].ID},
		{"latest, limit 0: top only", "/?topic=news&after=latest&limit=0", nil, top},
		{"oldest, capped by Limit", "/?topic=news&after=0", []string{msgs[0].ID, msgs[1].ID}, msgs[1].ID},
		{"after a cursor", "/?topic=news&after=" + msgs[0].ID, []string{msgs[1].ID, msgs[2].ID}, msgs[2].ID},
		{"client limit", "/?topic=news&limit=1&after=" + msgs[0].ID, []string{msgs[1].ID}, msgs[1].ID},
		{"caught up", "/?topic=news&after=" + msgs[2].ID, nil, msgs[2].ID},
		{"empty topic", "/?topic=empty", nil, emptyTop},
		{"empty topic, latest", "/?topic=empty&after=latest", nil, emptyTop},
		{"empty topic, oldest", "/?topic=empty&after=0", nil, emptyTop},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, http.MethodGet, tc.target)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.Equal(t, "no-cache", w.Header().Get("Cache-Control"))
			assert.Equal(t, "2", w.Header().Get("X-Poll-Interval"))
			assert.NotEmpty(t, w.Header().Get("ETag"))
			var a answer
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &a))
			var ids []string
			for _, m := range a.Messages {
				ids = append(ids, m.ID)
			}
			assert.Equal(t, tc.ids, ids)
			assert.Equal(t, tc.cursor, a.Cursor)
		})
	}
}

func TestHandlerErrors(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{HistorySize: 2}
	t.Cleanup(func() { b.Close() })
	msgs := pollwiretest.Publish(t, b, "news", "a", "b", "c", "d")
	deny := errors.New("internal-reason")
	h := &poll.Handler{Broker: b, Authorize: func(r *http.Request, topic string) error {
		if topic == "secret" {
			return deny
		}
		return nil
	}}
	tests := []struct {
		name   string
		method string
		target string
		status int
		code   string
		top    string
	}{
		{"no topic", "GET", "/", 400, "invalid_topic", ""},
		{"bad topic", "GET", "/?topic=a%20b", 400, "invalid_topic", ""},
		{"malformed cursor", "GET", "/?topic=news&after=nope", 400, "invalid_cursor", ""},
		{"bad limit", "GET", "/?topic=news&limit=-1", 400, "invalid_parameter", ""},
		{"denied", "GET", "/?topic=secret", 403, "forbidden", ""},
		{"method", "POST", "/?topic=news", 405, "method_not_allowed", ""},
		{"expired cursor", "GET", "/?topic=news&after=" + msgs[0].ID, 410, "cursor_expired", msgs[3].ID},
		{"other epoch", "GET", "/?topic=news&after=zzz-1", 410, "cursor_expired", msgs[3].ID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, tc.method, tc.target)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			assert.Empty(t, w.Header().Get("ETag"))
			var eb errorBody
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &eb))
			assert.Equal(t, tc.code, eb.Error)
			assert.NotEmpty(t, eb.Message)
			assert.Equal(t, tc.top, eb.Top)
			assert.NotContains(t, eb.Message, deny.Error())
		})
	}

	t.Run("broker closed", func(t *testing.T) {
		c := &bus.Memory{}
		require.NoError(t, c.Close())
		w := serve(&poll.Handler{Broker: c}, "GET", "/?topic=news")
		assert.Equal(t, 503, w.Code)
		assert.Equal(t, "2", w.Header().Get("Retry-After"))
		assert.Contains(t, w.Body.String(), `"unavailable"`)
	})
}

func TestHandlerETag(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	t.Cleanup(func() { b.Close() })
	msgs := pollwiretest.Publish(t, b, "news", "a")
	h := &poll.Handler{Broker: b}

	w := serve(h, "GET", "/?topic=news&after=0")
	require.Equal(t, 200, w.Code)
	tag := w.Header().Get("ETag")
	require.True(t, strings.HasPrefix(tag, `"`) && strings.HasSuffix(tag, `"`), tag)

	// The client moves to the cursor and sends the tag: nothing new → 304.
	w = serve(h, "GET", "/?topic=news&after="+msgs[0].ID, "If-None-Match", tag)
	assert.Equal(t, http.StatusNotModified, w.Code)
	assert.Empty(t, w.Body.String())
	assert.Equal(t, tag, w.Header().Get("ETag"))
	assert.Equal(t, "2", w.Header().Get("X-Poll-Interval"))
	assert.Equal(t, "no-cache", w.Header().Get("Cache-Control"))

	// Same URL revalidated: same answer → 304; weak form and lists match too.
	for _, inm := range []string{tag, "W/" + tag, `"x", ` + tag, "*"} {
		w = serve(h, "GET", "/?topic=news&after=0", "If-None-Match", inm)
		assert.Equal(t, http.StatusNotModified, w.Code, inm)
	}
	// The current state ("" cursor) is the latest message: same tag.
	w = serve(h, "GET", "/?topic=news", "If-None-Match", tag)
	assert.Equal(t, http.StatusNotModified, w.Code)

	// Another topic with the same cursor text gets another tag.
	other := serve(h, "GET", "/?topic=other&after=0").Header().Get("ETag")
	assert.NotEqual(t, tag, other)

	// A new message changes the answer and the tag.
	pollwiretest.Publish(t, b, "news", "b")
	w = serve(h, "GET", "/?topic=news&after="+msgs[0].ID, "If-None-Match", tag)
	require.Equal(t, 200, w.Code)
	assert.NotEqual(t, tag, w.Header().Get("ETag"))
	assert.Contains(t, w.Body.String(), `"data":"b"`)

	// HEAD: headers only.
	w = serve(h, "HEAD", "/?topic=news")
	assert.Equal(t, 200, w.Code)
	assert.Empty(t, w.Body.String())
	assert.NotEmpty(t, w.Header().Get("ETag"))
}

func TestHandlerMaxInFlight(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	b := &bus.Memory{}
	t.Cleanup(func() { b.Close() })
	h := &poll.Handler{Broker: b, MaxInFlight: 1, Authorize: func(*http.Request, string) error {
		entered <- struct{}{}
		<-release
		return nil
	}}
	done := make(chan int)
	go func() { done <- serve(h, "GET", "/?topic=news").Code }()
	<-entered
	w := serve(h, "GET", "/?topic=news")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "2", w.Header().Get("Retry-After"))
	assert.Contains(t, w.Body.String(), `"over_capacity"`)
	close(release)
	assert.Equal(t, 200, <-done)
	go func() { <-entered }()
	assert.Equal(t, 200, serve(h, "GET", "/?topic=news").Code)
}
