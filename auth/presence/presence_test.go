package presence_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/auth/presence"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// subjects is a Bearer whose token is the subject; "anon" requests carry
// none. Everyone may read and publish on room/* and read presence/room/*.
func subjects() *auth.Bearer {
	grants := auth.Identity{Subscribe: []string{"room/*", "presence/room/*"}, Publish: []string{"room/*"}}
	anon := grants
	return &auth.Bearer{
		Query:     "token",
		Anonymous: &anon,
		Verify: func(_ context.Context, tok string) (*auth.Identity, error) {
			id := grants
			id.Subject = tok
			return &id, nil
		},
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type event struct {
	typ string
	m   presence.Member
}

func next(t *testing.T, ctx context.Context, s bus.Subscription) event {
	t.Helper()
	select {
	case msg, ok := <-s.C():
		require.True(t, ok, "events ended: %v", s.Err())
		var m presence.Member
		require.NoError(t, json.Unmarshal(msg.Data, &m))
		return event{msg.Type, m}
	case <-ctx.Done():
		t.Fatal("no presence event")
	}
	return event{}
}

func subjectsOf(ms []presence.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Subject)
	}
	return out
}

func TestWSPresence(t *testing.T) {
	ctx := testCtx(t)
	b := &bus.Memory{}
	defer b.Close()
	p := &presence.Memory{Auth: subjects(), Broker: b}
	h := &ws.Handler{Broker: b, Auth: p}
	srv := httptest.NewServer(h)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(sctx)
		srv.Close()
	}()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "?token="
	events, err := b.Subscribe(ctx, p.Topic("room/1"), "")
	require.NoError(t, err)
	defer events.Close()

	dial := func(tok string) *ws.Client {
		c := &ws.Client{URL: url + tok}
		if tok == "" {
			c.URL = strings.TrimSuffix(url, "?token=")
		}
		require.NoError(t, c.Connect(ctx))
		t.Cleanup(func() { c.Close() })
		return c
	}
	alice1, alice2, bob, anon := dial("alice"), dial("alice"), dial("bob"), dial("")
	a1, err := alice1.Subscribe(ctx, "room/1", "")
	require.NoError(t, err)
	assert.Equal(t, event{presence.TypeJoin, presence.Member{}}.typ, next(t, ctx, events).typ)
	_, err = alice2.Subscribe(ctx, "room/1", "")
	require.NoError(t, err)
	_, err = bob.Subscribe(ctx, "room/1", "")
	require.NoError(t, err)
	ev := next(t, ctx, events)
	assert.Equal(t, presence.TypeJoin, ev.typ)
	assert.Equal(t, "bob", ev.m.Subject, "alice's second connection is no second join")
	_, err = anon.Subscribe(ctx, "room/1", "")
	require.NoError(t, err)

	ms := p.Members("room/1")
	assert.Equal(t, []string{"alice", "bob"}, subjectsOf(ms), "the anonymous subscriber is not listed")
	assert.Equal(t, 2, ms[0].Conns)

	bob.Close()
	ev = next(t, ctx, events)
	assert.Equal(t, event{presence.TypeLeave, presence.Member{Subject: "bob", Topic: "room/1", Since: ev.m.Since}}, ev)
	assert.Equal(t, []string{"alice"}, subjectsOf(p.Members("room/1")))

	// One of alice's subscriptions ends: she is still here.
	require.NoError(t, a1.Close())
	require.Eventually(t, func() bool { m := p.Members("room/1"); return len(m) == 1 && m[0].Conns == 1 }, 10*time.Second, 5*time.Millisecond)
	alice2.Close()
	ev = next(t, ctx, events)
	assert.Equal(t, presence.TypeLeave, ev.typ)
	assert.Equal(t, "alice", ev.m.Subject)
	assert.Empty(t, p.Members("room/1"))
}

func TestSSEPresence(t *testing.T) {
	ctx := testCtx(t)
	b := &bus.Memory{}
	defer b.Close()
	p := &presence.Memory{Auth: subjects(), Broker: b, MaxPerTopic: 1}
	srv := httptest.NewServer(&sse.Handler{Broker: b, Auth: p})
	defer srv.Close()
	events, err := b.Subscribe(ctx, p.Topic("room/1"), "")
	require.NoError(t, err)
	defer events.Close()

	alice, err := (&sse.Client{URL: srv.URL + "?token=alice"}).Subscribe(ctx, "room/1", "")
	require.NoError(t, err)
	assert.Equal(t, "alice", next(t, ctx, events).m.Subject)
	bob, err := (&sse.Client{URL: srv.URL + "?token=bob"}).Subscribe(ctx, "room/1", "")
	require.NoError(t, err)
	defer bob.Close()
	assert.Equal(t, []string{"alice"}, subjectsOf(p.Members("room/1")), "past MaxPerTopic, bob is served but not listed")

	alice.Close()
	ev := next(t, ctx, events)
	assert.Equal(t, presence.TypeLeave, ev.typ)
	assert.Equal(t, "alice", ev.m.Subject)
	assert.Empty(t, p.Members("room/1"))
	http.DefaultClient.CloseIdleConnections()
}

func TestServeHTTP(t *testing.T) {
	p := &presence.Memory{Auth: subjects()}
	p.Auth.(*auth.Bearer).Anonymous = nil
	leave := p.Join(context.Background(), &auth.Identity{Subject: "alice"}, "room/1")
	defer leave()
	srv := httptest.NewServer(p)
	defer srv.Close()
	get := func(q string) (*http.Response, presence.List) {
		resp, err := http.Get(srv.URL + "?" + q)
		require.NoError(t, err)
		defer resp.Body.Close()
		var l presence.List
		if resp.StatusCode == 200 {
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&l))
		}
		return resp, l
	}
	resp, l := get("topic=room/1&token=bob")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, []string{"alice"}, subjectsOf(l.Members))
	resp, _ = get("topic=room/1")
	assert.Equal(t, 401, resp.StatusCode)
	resp, _ = get("topic=secret&token=bob")
	assert.Equal(t, 403, resp.StatusCode)
	resp, _ = get("topic=a%20b&token=bob")
	assert.Equal(t, 400, resp.StatusCode)
}
