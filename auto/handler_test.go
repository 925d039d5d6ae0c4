package auto_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/poll"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/ws"
)

// errDenied is what the tests' Authorize returns for the topic "secret".
var errDenied = errors.New("denied")

func authorize(r *http.Request, a auto.Action, topic string) error {
	if topic == "secret" || (a == auto.ActionPublish && topic == "readonly") {
		return errDenied
	}
	return nil
}

func newServer(t *testing.T, h *auto.Handler) *httptest.Server {
	t.Helper()
	if h.Broker == nil {
		b := &bus.Memory{}
		t.Cleanup(func() { b.Close() })
		h.Broker = b
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		_ = h.Shutdown(context.Background())
		srv.Close()
	})
	return srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func TestNegotiate(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	h := &auto.Handler{Broker: b, Prefix: "/rt", Authorize: authorize}
	srv := newServer(t, h)

	st, body := get(t, srv.URL+"/rt/negotiate")
	assert.Equal(t, http.StatusOK, st)
	assert.JSONEq(t, `{"transports":[{"name":"websocket","url":"ws"},{"name":"sse","url":"sse"},{"name":"longpoll","url":"longpoll"},{"name":"poll","url":"poll"}],"publish":"publish"}`, body)

	m, err := b.Publish(context.Background(), "news", bus.Message{Data: []byte("x")})
	require.NoError(t, err)
	st, body = get(t, srv.URL+"/rt/negotiate?topic=news")
	assert.Equal(t, http.StatusOK, st)
	var a struct{ Top string }
	require.NoError(t, json.Unmarshal([]byte(body), &a))
	assert.Equal(t, m.ID, a.Top)

	st, body = get(t, srv.URL+"/rt/negotiate?topic=secret")
	assert.Equal(t, http.StatusForbidden, st, body)
	st, body = get(t, srv.URL+"/rt/negotiate?topic=")
	assert.Equal(t, http.StatusBadRequest, st, body)
	st, _ = get(t, srv.URL+"/other/negotiate")
	assert.Equal(t, http.StatusNotFound, st)
}

func TestTransportsSwitchedOff(t *testing.T) {
	srv := newServer(t, &auto.Handler{Transports: []string{auto.LongPoll, auto.Poll}, DisablePublish: true})
	_, body := get(t, srv.URL+"/negotiate")
	assert.JSONEq(t, `{"transports":[{"name":"longpoll","url":"longpoll"},{"name":"poll","url":"poll"}]}`, body)
	for _, p := range []string{"/ws", "/sse", "/publish"} {
		st, _ := get(t, srv.URL+p+"?topic=a")
		assert.Equal(t, http.StatusNotFound, st, p)
	}
	st, _ := get(t, srv.URL+"/poll?topic=a")
	assert.Equal(t, http.StatusOK, st)
}

// Every transport serves the Handler's topics to its own package's client,
// with the one Authorize.
func TestEveryTransportServes(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	srv := newServer(t, &auto.Handler{Broker: b, Authorize: authorize, PollInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wc := ws.NewClient(srv.URL + "/ws")
	require.NoError(t, wc.Connect(ctx))
	defer wc.Close()
	subs := map[string]bus.Subscriber{
		"ws":       wc,
		"sse":      sse.NewClient(srv.URL + "/sse"),
		"longpoll": longpoll.NewClient(srv.URL + "/longpoll"),
		"poll":     &poll.Client{URL: srv.URL + "/poll", Interval: 10 * time.Millisecond},
	}
	first, err := b.Publish(ctx, "t", bus.Message{Data: []byte("0")})
	require.NoError(t, err)
	for name, s := range subs {
		sub, err := s.Subscribe(ctx, "t", first.ID)
		require.NoError(t, err, name)
		_, err = s.Subscribe(ctx, "secret", "")
		assert.Error(t, err, name)
		m, err := b.Publish(ctx, "t", bus.Message{Data: []byte(name)})
		require.NoError(t, err)
		got := <-sub.C()
		assert.Equal(t, m.ID, got.ID, name)
		assert.Equal(t, name, string(got.Data), name)
		first = m
		sub.Close()
	}
}

func post(t *testing.T, url, contentType, body string, header ...string) (int, map[string]string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var out map[string]string
	raw, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(raw, &out)
	return res.StatusCode, out
}

// Publishing over HTTP answers bad input with a clear status and stores
// good input byte for byte.
func TestPublishHTTP(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	srv := newServer(t, &auto.Handler{Broker: b, Authorize: authorize, MaxMessageBytes: 1024, OriginPatterns: []string{"*.trusted.example"}})
	u := srv.URL + "/publish?topic="
	tests := []struct {
		name, url, ctype, body string
		header                 []string
		status                 int
		code                   string
	}{
		{"text", u + "a", "application/json", `{"type":"t","data":"hi","meta":{"k":"v"}}`, nil, 200, ""},
		{"binary", u + "a", "application/json; charset=utf-8", `{"data64":"AP8="}`, nil, 200, ""},
		{"empty", u + "a", "application/json", `{}`, nil, 200, ""},
		{"trusted origin", u + "a", "application/json", `{}`, []string{"Origin", "https://app.trusted.example"}, 200, ""},
		{"not json", u + "a", "application/json", `hello`, nil, 400, "bad_request"},
		{"both data", u + "a", "application/json", `{"data":"a","data64":"YQ=="}`, nil, 400, "bad_request"},
		{"bad base64", u + "a", "application/json", `{"data64":"***"}`, nil, 400, "bad_request"},
		{"bad type", u + "a", "application/json", `{"type":"a\nb"}`, nil, 400, "invalid_message"},
		{"bad topic", u + "a%20b", "application/json", `{}`, nil, 400, "invalid_topic"},
		{"no topic", srv.URL + "/publish", "application/json", `{}`, nil, 400, "invalid_topic"},
		{"too large", u + "a", "application/json", `{"data":"` + strings.Repeat("x", 2000) + `"}`, nil, 413, "too_large"},
		{"form", u + "a", "application/x-www-form-urlencoded", `data=x`, nil, 415, "unsupported_media_type"},
		{"forbidden", u + "readonly", "application/json", `{}`, nil, 403, "forbidden"},
		{"foreign origin", u + "a", "application/json", `{}`, []string{"Origin", "https://evil.example"}, 403, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, out := post(t, tt.url, tt.ctype, tt.body, tt.header...)
			assert.Equal(t, tt.status, st, out)
			if tt.code != "" {
				assert.Equal(t, tt.code, out["error"])
				assert.NotEmpty(t, out["message"])
				return
			}
			require.NotEmpty(t, out["id"])
			ms, err := b.Read(context.Background(), "a", "", 1)
			require.NoError(t, err)
			assert.Equal(t, out["id"], ms[0].ID)
		})
	}
	ms, err := b.Read(context.Background(), "a", bus.Oldest, 0)
	require.NoError(t, err)
	require.Len(t, ms, 4)
	assert.Equal(t, "hi", string(ms[0].Data))
	assert.Equal(t, map[string]string{"k": "v"}, ms[0].Meta)
	assert.Equal(t, []byte{0, 0xff}, ms[1].Data)

	res, err := http.Get(u + "a")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
}

// Publishing over WebSocket goes through the same Authorize and limit.
func TestPublishWebSocket(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	srv := newServer(t, &auto.Handler{Broker: b, Authorize: authorize, MaxMessageBytes: 1024})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := ws.NewClient(srv.URL + "/ws")
	require.NoError(t, c.Connect(ctx))
	defer c.Close()
	m, err := c.Publish(ctx, "a", bus.Message{Data: []byte("hi")})
	require.NoError(t, err)
	assert.NotEmpty(t, m.ID)
	_, err = c.Publish(ctx, "readonly", bus.Message{Data: []byte("hi")})
	assert.ErrorIs(t, err, ws.ErrForbidden)
	_, err = c.Publish(ctx, "a", bus.Message{Type: "x\ny"})
	assert.ErrorIs(t, err, bus.ErrInvalidMessage)
	_, err = c.Publish(ctx, "a b", bus.Message{})
	assert.ErrorIs(t, err, bus.ErrInvalidTopic)
	// A frame over MaxMessageBytes closes the connection (1009); the
	// client cannot skip it and stops.
	_, err = c.Publish(ctx, "a", bus.Message{Data: []byte(strings.Repeat("x", 4000))})
	assert.Error(t, err)
}

func TestClientJSServed(t *testing.T) {
	srv := newServer(t, &auto.Handler{})
	res, err := http.Get(srv.URL + "/client.js")
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/javascript; charset=utf-8", res.Header.Get("Content-Type"))
}
