package webhook

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signedRequest builds a Standard Webhooks POST signed with keys at ts.
func signedRequest(t testing.TB, keys Keyring, id string, ts time.Time, body []byte) *http.Request {
	t.Helper()
	sig, err := Sign(keys, id, ts, body)
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
	for k, v := range swHeader(id, ts.Unix(), sig) {
		req.Header[k] = v
	}
	return req
}

func serve(r http.Handler, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w
}

func TestReceiverPipeline(t *testing.T) {
	t.Parallel()
	keys := swKeys(t)
	now := time.Unix(swTimestamp, 0)
	good := func() *http.Request { return signedRequest(t, keys, swID, now, []byte(swBody)) }
	tests := []struct {
		name   string
		req    func() *http.Request
		clock  time.Time
		status int
	}{
		{"ok", good, now, 200},
		{"get", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/hook", nil) }, now, 405},
		{"no id", func() *http.Request { r := good(); r.Header.Del(HeaderID); return r }, now, 400},
		{"no signature", func() *http.Request { r := good(); r.Header.Del(HeaderSignature); return r }, now, 400},
		{"bad timestamp", func() *http.Request { r := good(); r.Header.Set(HeaderTimestamp, "1e9"); return r }, now, 400},
		{"too old", good, now.Add(301 * time.Second), 400},
		{"too new", good, now.Add(-301 * time.Second), 400},
		{"edge old", good, now.Add(300 * time.Second), 200},
		{"edge new", good, now.Add(-300 * time.Second), 200},
		{"tampered body", func() *http.Request {
			r := good()
			r.Body = io.NopCloser(strings.NewReader(`{"test": 1}`))
			r.ContentLength = -1
			return r
		}, now, 401},
		{"tampered id", func() *http.Request { r := good(); r.Header.Set(HeaderID, "msg_other"); return r }, now, 401},
		{"other key", func() *http.Request { return signedRequest(t, Secrets(Secret("x")), swID, now, []byte(swBody)) }, now, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			r := &Receiver{Keys: keys, Clock: func() time.Time { return tc.clock },
				Handler: func(context.Context, *Event) error { calls.Add(1); return nil }}
			w := serve(r, tc.req())
			assert.Equal(t, tc.status, w.Code, w.Body.String())
			want := int32(0)
			if tc.status == 200 {
				want = 1
			}
			assert.Equal(t, want, calls.Load())
		})
	}
}

func TestReceiverOversizeBeforeHMAC(t *testing.T) {
	t.Parallel()
	keys := swKeys(t)
	now := time.Unix(swTimestamp, 0)
	body := bytes.Repeat([]byte("a"), 1025)
	for _, chunked := range []bool{false, true} {
		var macs atomic.Int32
		r := &Receiver{Keys: keys, MaxBodyBytes: 1024, Clock: func() time.Time { return now },
			Handler: func(context.Context, *Event) error { return nil }}
		r.onMAC = func() { macs.Add(1) }
		req := signedRequest(t, keys, swID, now, body)
		if chunked {
			req.Body = io.NopCloser(bytes.NewReader(body)) // no length known up front
			req.ContentLength = -1
		}
		assert.Equal(t, http.StatusRequestEntityTooLarge, serve(r, req).Code)
		assert.Zero(t, macs.Load(), "no HMAC for an oversize body")

		// The counter works: an accepted body costs one HMAC.
		ok := signedRequest(t, keys, swID, now, body[:1024])
		assert.Equal(t, http.StatusOK, serve(r, ok).Code)
		assert.Equal(t, int32(1), macs.Load())
	}
}

func TestReceiverRawBody(t *testing.T) {
	t.Parallel()
	keys := swKeys(t)
	now := time.Now()
	pretty := []byte("{\n  \"b\": 2,\n  \"a\": 1\n}\n")
	var got []byte
	r := &Receiver{Keys: keys, Handler: func(_ context.Context, e *Event) error { got = e.Body; return nil }}
	require.Equal(t, 200, serve(r, signedRequest(t, keys, "msg_raw", now, pretty)).Code)
	assert.Equal(t, pretty, got, "the handler gets the verified bytes")

	// The pitfall: a re-encoded body no longer verifies.
	req := signedRequest(t, keys, "msg_raw2", now, pretty)
	req.Body = io.NopCloser(strings.NewReader(`{"a":1,"b":2}`))
	req.ContentLength = -1
	assert.Equal(t, 401, serve(r, req).Code)
}

func TestReceiverDuplicates(t *testing.T) {
	t.Parallel()
	keys := swKeys(t)
	now := time.Now()
	var calls atomic.Int32
	fail := atomic.Bool{}
	fail.Store(true)
	r := &Receiver{Keys: keys, Handler: func(context.Context, *Event) error {
		calls.Add(1)
		if fail.Load() {
			return errors.New("database down")
		}
		return nil
	}}
	body := []byte(`{"n":1}`)
	// A handler error answers 500 and releases the claim...
	assert.Equal(t, 500, serve(r, signedRequest(t, keys, "msg_d", now, body)).Code)
	fail.Store(false)
	// ...so the retry (fresh timestamp, same id) is handled...
	assert.Equal(t, 200, serve(r, signedRequest(t, keys, "msg_d", now.Add(time.Second), body)).Code)
	// ...and later copies are acknowledged without running the handler.
	w := serve(r, signedRequest(t, keys, "msg_d", now.Add(2*time.Second), body))
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, "duplicate\n", w.Body.String())
	assert.Equal(t, int32(2), calls.Load())
}

func TestReceiverConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	keys := swKeys(t)
	now := time.Now()
	const n = 50
	var calls atomic.Int32
	release := make(chan struct{})
	r := &Receiver{Keys: keys, Handler: func(context.Context, *Event) error {
		calls.Add(1)
		<-release
		return nil
	}}
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		req := signedRequest(t, keys, "msg_c", now, []byte(`{}`))
		wg.Go(func() { codes <- serve(r, req).Code })
	}
	// n-1 copies answer while the first is still in its handler.
	counts := map[int]int{}
	for range n - 1 {
		counts[<-codes]++
	}
	close(release)
	wg.Wait()
	counts[<-codes]++
	assert.Equal(t, int32(1), calls.Load())
	assert.Equal(t, map[int]int{200: 1, 409: n - 1}, counts)
	// Once handled, copies get 200.
	assert.Equal(t, 200, serve(r, signedRequest(t, keys, "msg_c", now, []byte(`{}`))).Code)
	assert.Equal(t, int32(1), calls.Load())
}

func TestReceiverOrdering(t *testing.T) {
	t.Parallel()
	keys := swKeys(t)
	now := time.Now()
	var seen []string
	var failNext bool
	r := &Receiver{Keys: keys,
		Order: func(e *Event) (string, int64, bool) {
			p, err := ParsePayload(e.Body)
			if err != nil {
				return "", 0, false
			}
			return p.Type, p.Timestamp.UnixNano(), true
		},
		Handler: func(_ context.Context, e *Event) error {
			if failNext {
				failNext = false
				return errors.New("boom")
			}
			seen = append(seen, e.ID)
			return nil
		}}
	body := func(typ string, sec int64) []byte {
		b, _ := Payload{Type: typ, Timestamp: time.Unix(sec, 0), Data: []byte(`{}`)}.MarshalJSON()
		return b
	}
	send := func(id string, b []byte) int { return serve(r, signedRequest(t, keys, id, now, b)).Code }
	assert.Equal(t, 200, send("msg_2", body("user.1", 2)))
	assert.Equal(t, 200, send("msg_1", body("user.1", 1)), "stale: acknowledged")
	assert.Equal(t, 200, send("msg_x", body("user.2", 1)), "other key: independent")
	failNext = true
	assert.Equal(t, 500, send("msg_3", body("user.1", 3)))
	assert.Equal(t, 200, send("msg_3", body("user.1", 3)), "a failed event does not move the guard")
	assert.Equal(t, []string{"msg_2", "msg_x", "msg_3"}, seen)
}

func TestReceiverSchemes(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	secret := RawSecret("shh")
	var ids []string
	handler := func(_ context.Context, e *Event) error { ids = append(ids, e.ID); return nil }

	gh := &Receiver{Keys: Secrets(secret), Scheme: GitHub, Handler: handler}
	body := []byte(`{"action":"opened"}`)
	req := func(h, v string, b []byte) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
		r.Header.Set(h, v)
		r.Header.Set(HeaderGitHubDelivery, "guid-1")
		return r
	}
	assert.Equal(t, 200, serve(gh, req(HeaderGitHubSignature, SignGitHub(secret, body), body)).Code)
	assert.Equal(t, 200, serve(gh, req(HeaderGitHubSignature, SignGitHub(secret, body), body)).Code, "redelivery")
	assert.Equal(t, 401, serve(gh, req(HeaderGitHubSignature, SignGitHub(secret, body), []byte("{}"))).Code)
	assert.Equal(t, 400, serve(gh, req("X-Other", "x", body)).Code)

	st := &Receiver{Keys: Secrets(secret), Scheme: Stripe, Handler: handler, Clock: func() time.Time { return now }}
	sbody := []byte(`{"id":"evt_9","type":"charge.succeeded"}`)
	assert.Equal(t, 200, serve(st, req(HeaderStripeSignature, SignStripe(secret, now, sbody), sbody)).Code)
	assert.Equal(t, 200, serve(st, req(HeaderStripeSignature, SignStripe(secret, now, sbody), sbody)).Code)
	assert.Equal(t, 400, serve(st, req(HeaderStripeSignature, SignStripe(secret, now.Add(-time.Hour), sbody), sbody)).Code)
	assert.Equal(t, []string{"guid-1", "evt_9"}, ids)
}

func TestReceiverPublishesToBus(t *testing.T) {
	t.Parallel()
	keys := swKeys(t)
	b := &bus.Memory{}
	defer b.Close()
	sub, err := b.Subscribe(t.Context(), "in", "")
	require.NoError(t, err)
	defer sub.Close()
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/{topic}", &Receiver{Keys: keys, Broker: b}) // the default Topic: the path value
	srv := httptest.NewServer(mux)
	defer srv.Close()
	s := &Sender{AllowPrivateNetworks: true}
	defer s.CloseIdleConnections()
	ep := &Endpoint{ID: "ep", URL: srv.URL + "/hooks/in", Keys: keys}
	for _, data := range [][]byte{[]byte(`{"a": [1, 2]}`), {0xff, 0x00, 'x'}, nil} {
		m := bus.Message{Topic: "out", ID: "e-1", Type: "bin.thing", Data: data, Time: time.Now()}
		body, err := NewPayload(m).MarshalJSON()
		require.NoError(t, err)
		_, err = s.Send(t.Context(), ep, Delivery{ID: "msg_" + strconv.Itoa(len(data)), Body: body})
		require.NoError(t, err)
		got := <-sub.C()
		assert.Equal(t, "bin.thing", got.Type)
		assert.Equal(t, string(data), string(got.Data))
		assert.Equal(t, "msg_"+strconv.Itoa(len(data)), got.Meta["webhook-id"])
	}
}

// fixedTopic is a Receiver's Topic that always returns topic.
func fixedTopic(topic string) func(*http.Request) (string, error) {
	return func(*http.Request) (string, error) { return topic, nil }
}

// TestReceiverTopic checks where a Receiver with a Broker publishes, and
// that a request whose topic is refused is answered before its body is
// read, with nothing published.
func TestReceiverTopic(t *testing.T) {
	t.Parallel()
	keys := swKeys(t)
	now := time.Now()
	errNope := errors.New("no such inbox")
	tests := []struct {
		name   string
		topic  func(*http.Request) (string, error)
		target string
		code   int
		want   string // the topic published to
	}{
		{name: "query parameter", target: "/hook?topic=from-query", code: 200, want: "from-query"},
		{name: "fixed", topic: fixedTopic("fixed"), target: "/hook?topic=ignored", code: 200, want: "fixed"},
		{name: "no topic", target: "/hook", code: 400},
		{name: "invalid name", target: "/hook?topic=" + url.QueryEscape("a\x00b"), code: 400},
		{name: "invalid name from Topic", topic: fixedTopic(""), target: "/hook", code: 400},
		{name: "refused by Topic", topic: func(*http.Request) (string, error) { return "", errNope }, target: "/hook", code: 404},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &bus.Memory{}
			defer b.Close()
			r := &Receiver{Keys: keys, Broker: b, Topic: tc.topic}
			body := &firstReadReader{data: []byte(`{"type":"x","timestamp":"2026-11-27T12:00:00Z","data":1}`)}
			req := signedRequest(t, keys, "msg_"+strconv.Itoa(i), now, body.data)
			req.Body = io.NopCloser(body)
			req.URL, _ = url.Parse(tc.target)
			w := serve(r, req)
			require.Equal(t, tc.code, w.Code, w.Body.String())
			if tc.want == "" {
				assert.Zero(t, body.reads, "the body is not read")
				return
			}
			msgs, err := b.Read(t.Context(), tc.want, bus.Oldest, 10)
			require.NoError(t, err)
			require.Len(t, msgs, 1)
			assert.Equal(t, "msg_"+strconv.Itoa(i), msgs[0].Meta["webhook-id"])
		})
	}
	// With a Handler, Topic is not called.
	r := &Receiver{Keys: keys, Handler: func(context.Context, *Event) error { return nil },
		Broker: &bus.Memory{}, Topic: func(*http.Request) (string, error) { return "", errNope }}
	assert.Equal(t, 200, serve(r, signedRequest(t, keys, "msg_h", now, []byte("{}"))).Code)
}

// firstReadReader records the size of the buffer offered to its first
// Read, before it has delivered any byte, then serves data.
type firstReadReader struct {
	data  []byte
	first int
	reads int
}

func (f *firstReadReader) Read(p []byte) (int, error) {
	if f.reads++; f.reads == 1 {
		f.first = len(p)
	}
	if len(f.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestReceiverBodyAllocation checks that a declared Content-Length does not
// reserve that much memory before the bytes arrive, and that bodies of any
// size still reach the handler byte for byte.
func TestReceiverBodyAllocation(t *testing.T) {
	t.Parallel()
	keys := swKeys(t)
	now := time.Unix(swTimestamp, 0)
	const max = 4 << 20
	tests := []struct {
		name     string
		size     int
		declared int64 // -1: chunked
	}{
		{"empty", 0, 0},
		{"small", 100, 100},
		{"at prealloc", maxBodyPrealloc, maxBodyPrealloc},
		{"above prealloc", maxBodyPrealloc + 1, maxBodyPrealloc + 1},
		{"large", 3<<20 + 17, 3<<20 + 17},
		{"at max", max, max},
		{"large chunked", 3<<20 + 17, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := make([]byte, tc.size)
			for i := range body {
				body[i] = byte(i*7 + i>>8)
			}
			var got []byte
			r := &Receiver{Keys: keys, MaxBodyBytes: max, Clock: func() time.Time { return now },
				Handler: func(_ context.Context, e *Event) error { got = e.Body; return nil }}
			req := signedRequest(t, keys, swID, now, body)
			rd := &firstReadReader{data: body}
			req.Body = io.NopCloser(rd)
			req.ContentLength = tc.declared
			require.Equal(t, http.StatusOK, serve(r, req).Code)
			assert.True(t, bytes.Equal(body, got), "the exact bytes")
			assert.LessOrEqual(t, rd.first, maxBodyPrealloc+1, "buffer before the first byte")
		})
	}

	// A client that declares the maximum and sends a few bytes gets 400,
	// and nothing near the declared length was set aside for it.
	r := &Receiver{Keys: keys, MaxBodyBytes: max, Handler: func(context.Context, *Event) error { return nil }}
	rd := &firstReadReader{data: []byte(`{"a":`)}
	req := signedRequest(t, keys, swID, now, nil)
	req.Body = io.NopCloser(rd)
	req.ContentLength = max
	assert.Equal(t, http.StatusBadRequest, serve(r, req).Code)
	assert.LessOrEqual(t, rd.first, maxBodyPrealloc+1)
}

// Svix sends the Standard Webhooks headers under its own names. The
// Receiver takes the svix-* set when it is complete and otherwise the
// webhook-* set, as svix's Go library does; a mix of the two is refused.
func TestReceiverSvixHeaderNames(t *testing.T) {
	t.Parallel()
	keys := swKeys(t)
	body := []byte(`{"type":"invoice.paid"}`)
	now := time.Now()
	sig, err := Sign(keys, "msg_svix", now, body)
	require.NoError(t, err)
	ts := strconv.FormatInt(now.Unix(), 10)
	bad := "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	type hdr = map[string]string
	svix := func(extra hdr) hdr {
		h := hdr{"svix-id": "msg_svix", "svix-timestamp": ts, "svix-signature": sig}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	tests := []struct {
		name   string
		header hdr
		status int
	}{
		{"svix names only", svix(nil), 200},
		{"webhook names only", hdr{"webhook-id": "msg_svix", "webhook-timestamp": ts, "webhook-signature": sig}, 200},
		{"both sets, svix wins", svix(hdr{"webhook-id": "msg_svix", "webhook-timestamp": ts, "webhook-signature": bad}), 200},
		{"both sets, a bad svix set is not rescued", hdr{"svix-id": "msg_svix", "svix-timestamp": ts, "svix-signature": bad,
			"webhook-id": "msg_svix", "webhook-timestamp": ts, "webhook-signature": sig}, 401},
		{"partial svix set, complete webhook set", hdr{"svix-id": "msg_other", "svix-timestamp": ts,
			"webhook-id": "msg_svix", "webhook-timestamp": ts, "webhook-signature": sig}, 200},
		{"svix id and timestamp, webhook signature", hdr{"svix-id": "msg_svix", "svix-timestamp": ts, "webhook-signature": sig}, 400},
		{"svix id, webhook timestamp and signature", hdr{"svix-id": "msg_svix", "webhook-timestamp": ts, "webhook-signature": sig}, 400},
		{"empty svix signature", svix(hdr{"svix-signature": ""}), 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			var mu sync.Mutex
			r := &Receiver{Keys: keys, Handler: func(_ context.Context, e *Event) error {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, e.ID)
				return nil
			}}
			srv := httptest.NewServer(r)
			defer srv.Close()
			req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
			require.NoError(t, err)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			msg, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			assert.Equal(t, tc.status, resp.StatusCode, string(msg))
			mu.Lock()
			defer mu.Unlock()
			if tc.status == 200 {
				assert.Equal(t, []string{"msg_svix"}, got)
			} else {
				assert.Empty(t, got)
			}
		})
	}
}

// A client that sends the headers and part of the body, then stalls, gets
// 408 once ReadTimeout has passed, and its connection is closed: nothing
// of the Receiver stays behind, even though the server has no ReadTimeout
// and the clients keep their connections open.
func TestReceiverStalledBodyTimesOut(t *testing.T) {
	t.Parallel()
	var inFlight atomic.Int32
	r := &Receiver{Keys: swKeys(t), ReadTimeout: 100 * time.Millisecond,
		Handler: func(context.Context, *Event) error { return nil }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		r.ServeHTTP(w, req)
	}))
	defer srv.Close()
	const n = 20
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		_, err = io.WriteString(c, "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
			"Webhook-Id: msg_1\r\nWebhook-Timestamp: 1\r\nWebhook-Signature: v1,x\r\n"+
			"Content-Length: 1000\r\n\r\n{\"partial\":")
		require.NoError(t, err)
		conns[i] = c
	}
	for _, c := range conns {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second))) // guards against a hang only
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "the Receiver must answer a stalled body")
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode, string(body))
		_, err = br.ReadByte()
		assert.ErrorIs(t, err, io.EOF, "the server closes the connection")
	}
	assert.Zero(t, inFlight.Load(), "no handler is left waiting for a body")
}

// The read deadline covers the body only: a Handler that runs longer than
// ReadTimeout keeps its request's context.
func TestReceiverSlowHandlerKeepsContext(t *testing.T) {
	t.Parallel()
	keys := swKeys(t)
	r := &Receiver{Keys: keys, ReadTimeout: 50 * time.Millisecond,
		Handler: func(ctx context.Context, _ *Event) error {
			time.Sleep(200 * time.Millisecond) // past the read deadline
			return ctx.Err()
		}}
	srv := httptest.NewServer(r)
	defer srv.Close()
	req := signedRequest(t, keys, "msg_slow", time.Now(), []byte(`{}`))
	out, err := http.NewRequest(http.MethodPost, srv.URL, req.Body)
	require.NoError(t, err)
	out.Header = req.Header
	resp, err := srv.Client().Do(out)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
