package presence_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/redisbus/presence"
	"github.com/pushpull/pushpull/sse"
)

// subjects allows every token, whose subject it is, to subscribe anywhere.
var subjects = &auth.Bearer{Verify: func(_ context.Context, tok string) (*auth.Identity, error) {
	return &auth.Identity{Subject: tok, Subscribe: []string{"*"}}, nil
}}

func newInstance(t *testing.T, prefix, name string, b bus.Publisher, ttl time.Duration) *presence.Redis {
	t.Helper()
	p := &presence.Redis{Client: client(t), Auth: subjects, Broker: b, Prefix: prefix, Instance: name, TTL: ttl}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.Start(ctx))
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func names(t *testing.T, ctx context.Context, p *presence.Redis, topic string) string {
	t.Helper()
	ms, err := p.Members(ctx, topic)
	require.NoError(t, err)
	s := ""
	for _, m := range ms {
		s += fmt.Sprintf("%s:%d ", m.Subject, m.Conns)
	}
	return s
}

// events returns the companion topic's events after cursor, as
// "type subject" strings, and the new cursor.
func events(t *testing.T, ctx context.Context, b bus.Broker, topic, after string) ([]string, string) {
	t.Helper()
	ms, err := b.Read(ctx, topic, after, 100)
	require.NoError(t, err)
	var out []string
	for _, m := range ms {
		var mem presence.Member
		require.NoError(t, json.Unmarshal(m.Data, &mem))
		out = append(out, m.Type+" "+mem.Subject)
		after = m.ID
	}
	return out, after
}

func id(sub string) *auth.Identity { return &auth.Identity{Subject: sub} }

// synced waits until the instances recorded every Join and leave so far.
func synced(t *testing.T, ctx context.Context, ps ...*presence.Redis) {
	t.Helper()
	for _, p := range ps {
		require.NoError(t, p.Sync(ctx))
	}
}

// eventually waits, bounded by ctx, until the members of topic read by p
// are want.
func eventually(t *testing.T, ctx context.Context, p *presence.Redis, topic, want string) {
	t.Helper()
	for names(t, ctx, p, topic) != want {
		select {
		case <-ctx.Done():
			t.Fatalf("members of %s: %q, want %q", topic, names(t, ctx, p, topic), want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Two instances share Redis: each lists the members of both, a subject on
// both is announced once and leaves when its last subscription ends.
func TestTwoInstances(t *testing.T) {
	ctx := testCtx(t)
	prefix := keyPrefix(t)
	b := &bus.Memory{}
	defer b.Close()
	a := newInstance(t, prefix, "a", b, time.Minute)
	c := newInstance(t, prefix, "b", b, time.Minute)

	leaveA := a.Join(ctx, id("alice"), "room")
	leaveB := c.Join(ctx, id("bob"), "room")
	leaveA2 := c.Join(ctx, id("alice"), "room")
	leaveA3 := c.Join(ctx, id("alice"), "room") // a second subscription on b
	synced(t, ctx, a, c)
	assert.Equal(t, "alice:3 bob:1 ", names(t, ctx, a, "room"), "alice's subscriptions on both instances")
	assert.Equal(t, "alice:3 bob:1 ", names(t, ctx, c, "room"))
	evs, cur := events(t, ctx, b, "presence/room", bus.Oldest)
	assert.ElementsMatch(t, []string{"presence.join alice", "presence.join bob"}, evs) // two instances: either order

	leaveA()
	leaveA2()
	synced(t, ctx, a, c)
	assert.Equal(t, "alice:1 bob:1 ", names(t, ctx, a, "room"), "alice still has a subscription on b")
	leaveA3()
	leaveB()
	leaveB() // a second call is harmless
	synced(t, ctx, a, c)
	assert.Equal(t, "", names(t, ctx, a, "room"))
	evs, _ = events(t, ctx, b, "presence/room", cur)
	assert.ElementsMatch(t, []string{"presence.leave alice", "presence.leave bob"}, evs)
	// Anonymous identities and companion topics are not counted.
	assert.Nil(t, a.Join(ctx, id(""), "room"))
	assert.Nil(t, a.Join(ctx, id("alice"), "presence/room"))
}

// An instance killed mid-session (its refresher and its Redis connection
// gone, no cleanup): its members disappear from the other instance's
// lists once its key expired, and the survivor announces their leaves.
func TestInstanceKilled(t *testing.T) {
	ctx := testCtx(t)
	prefix := keyPrefix(t)
	b := &bus.Memory{}
	defer b.Close()
	const ttl = 600 * time.Millisecond
	survivor := newInstance(t, prefix, "survivor", b, ttl)
	victimClient := client(t)
	victim := &presence.Redis{Client: victimClient, Auth: subjects, Broker: b, Prefix: prefix, Instance: "victim", TTL: ttl}
	require.NoError(t, victim.Start(ctx))

	leave := survivor.Join(ctx, id("alice"), "room")
	defer leave()
	victim.Join(ctx, id("bob"), "room")
	victim.Join(ctx, id("carol"), "room")
	victim.Join(ctx, id("carol"), "other")
	synced(t, ctx, survivor, victim)
	require.Equal(t, "alice:1 bob:1 carol:1 ", names(t, ctx, survivor, "room"))
	_, cur := events(t, ctx, b, "presence/room", bus.Oldest)

	require.NoError(t, victimClient.Close()) // the crash: nothing more reaches Redis
	killed := time.Now()
	eventually(t, ctx, survivor, "room", "alice:1 ")
	t.Logf("members gone %v after the kill (TTL %v)", time.Since(killed).Round(10*time.Millisecond), ttl)
	assert.Equal(t, "", names(t, ctx, survivor, "other"))
	// The survivor removes the dead entries and announces the leaves.
	var evs []string
	for len(evs) < 2 {
		var more []string
		more, cur = events(t, ctx, b, "presence/room", cur)
		evs = append(evs, more...)
		select {
		case <-ctx.Done():
			t.Fatalf("leave events: %v", evs)
		case <-time.After(50 * time.Millisecond):
		}
	}
	assert.ElementsMatch(t, []string{"presence.leave bob", "presence.leave carol"}, evs)
	_ = victim.Close() // its Redis is gone: fails, but stops its goroutine
}

// MaxPerTopic caps the entries of a topic; those past it are served but
// neither listed nor announced.
func TestMaxPerTopic(t *testing.T) {
	ctx := testCtx(t)
	b := &bus.Memory{}
	defer b.Close()
	p := &presence.Redis{Client: client(t), Auth: subjects, Broker: b, Prefix: keyPrefix(t), MaxPerTopic: 2}
	require.NoError(t, p.Start(ctx))
	defer p.Close()
	var leaves []func()
	for _, s := range []string{"a", "b", "c"} {
		leaves = append(leaves, p.Join(ctx, id(s), "room"))
	}
	synced(t, ctx, p)
	assert.Equal(t, "a:1 b:1 ", names(t, ctx, p, "room"))
	leaves[2]()
	leaves[0]()
	synced(t, ctx, p)
	assert.Equal(t, "b:1 ", names(t, ctx, p, "room"))
	evs, _ := events(t, ctx, b, "presence/room", bus.Oldest)
	assert.Equal(t, []string{"presence.join a", "presence.join b", "presence.leave a"}, evs)
}

// Close removes the instance's members and announces their leaves.
func TestCloseLeaves(t *testing.T) {
	ctx := testCtx(t)
	prefix := keyPrefix(t)
	b := &bus.Memory{}
	defer b.Close()
	a := newInstance(t, prefix, "a", b, time.Minute)
	other := newInstance(t, prefix, "b", b, time.Minute)
	a.Join(ctx, id("alice"), "room")
	synced(t, ctx, a)
	require.NoError(t, a.Close())
	assert.Equal(t, "", names(t, ctx, other, "room"))
	evs, _ := events(t, ctx, b, "presence/room", bus.Oldest)
	assert.Equal(t, []string{"presence.join alice", "presence.leave alice"}, evs)
	assert.Nil(t, a.Join(ctx, id("alice"), "room"), "not recorded after Close")
}

// Through a real sse.Handler: a live stream makes its subject present on
// the other instance's list; its end makes it leave.
func TestThroughSSEHandler(t *testing.T) {
	ctx := testCtx(t)
	prefix := keyPrefix(t)
	b := &bus.Memory{}
	defer b.Close()
	a := newInstance(t, prefix, "a", b, time.Minute)
	other := newInstance(t, prefix, "b", b, time.Minute)
	h := &sse.Handler{Broker: b, Auth: a}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())
	sctx, cancel := context.WithCancel(ctx)
	sc := &sse.Client{URL: srv.URL, Header: http.Header{"Authorization": {"Bearer dave"}}}
	sub, err := sc.Subscribe(sctx, "room", bus.Oldest)
	require.NoError(t, err)
	eventually(t, ctx, other, "room", "dave:1 ")
	sub.Close()
	cancel()
	eventually(t, ctx, other, "room", "")
}

// ServeHTTP lists the members of every live instance to whoever may
// subscribe to the topic.
func TestServeHTTP(t *testing.T) {
	ctx := testCtx(t)
	prefix := keyPrefix(t)
	a := newInstance(t, prefix, "a", nil, time.Minute)
	other := newInstance(t, prefix, "b", nil, time.Minute)
	defer a.Join(ctx, id("alice"), "room")()
	defer other.Join(ctx, id("bob"), "room")()
	synced(t, ctx, a, other)
	srv := httptest.NewServer(a)
	defer srv.Close()
	get := func(token string) (int, presence.List) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/?topic=room", nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var l presence.List
		if res.StatusCode == http.StatusOK {
			require.NoError(t, json.NewDecoder(res.Body).Decode(&l))
		}
		return res.StatusCode, l
	}
	status, l := get("carol")
	require.Equal(t, http.StatusOK, status)
	require.Len(t, l.Members, 2)
	assert.Equal(t, "alice", l.Members[0].Subject)
	assert.Equal(t, "bob", l.Members[1].Subject)
	status, _ = get("")
	assert.Equal(t, http.StatusUnauthorized, status)
}

// Entries written before connections were counted (a time alone) count
// one connection each; values that are not entries are ignored.
func TestEarlierEntries(t *testing.T) {
	ctx := testCtx(t)
	prefix := keyPrefix(t)
	p := newInstance(t, prefix, "a", nil, time.Minute)
	c := client(t)
	ns := fmt.Sprint(time.Now().UnixNano())
	require.NoError(t, c.HSet(ctx, prefix+"t:room", "a\nold", ns, "a\nbroken", "x y", "a\nzero", ns+" 0").Err())
	leave := p.Join(ctx, id("new"), "room")
	leave2 := p.Join(ctx, id("new"), "room")
	synced(t, ctx, p)
	assert.Equal(t, "new:2 old:1 ", names(t, ctx, p, "room"))
	leave()
	synced(t, ctx, p)
	assert.Equal(t, "new:1 old:1 ", names(t, ctx, p, "room"), "a leave that is not the last updates the count")
	leave2()
}
