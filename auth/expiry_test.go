package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refresher makes alice's tokens for an auth.Transport: one expiring at
// deadline while it has not passed, then a fresh one. The first fresh
// token is handed out only after fresh was signalled and release closed,
// so a test can publish while the client is away.
type refresher struct {
	deadline time.Time
	fresh    chan struct{} // capacity 1
	release  chan struct{}
	once     sync.Once
}

func newRefresher(t *testing.T, life time.Duration) (*refresher, *auth.Transport) {
	r := &refresher{
		deadline: time.Now().Add(life),
		fresh:    make(chan struct{}, 1),
		release:  make(chan struct{}),
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	return r, &auth.Transport{Token: r.token, Base: base}
}

func (r *refresher) token(ctx context.Context) (string, error) {
	if time.Now().Before(r.deadline) {
		return fmt.Sprintf("alice;%d", r.deadline.UnixNano()), nil
	}
	var err error
	r.once.Do(func() {
		r.fresh <- struct{}{}
		select {
		case <-r.release:
		case <-ctx.Done():
			err = ctx.Err()
		}
	})
	return "alice", err
}

// expiryCase subscribes through one transport with a Client whose
// requests go through rt (or carry the static header h when rt is nil).
type expiryCase struct {
	name      string
	subscribe func(t *testing.T, b bus.Broker, rt http.RoundTripper, h http.Header) (bus.Subscription, error)
}

var expiryCases = []expiryCase{
	{"sse", func(t *testing.T, b bus.Broker, rt http.RoundTripper, h http.Header) (bus.Subscription, error) {
		srv := httptest.NewServer(&sse.Handler{Broker: b, Auth: tokens(), Retry: 10 * time.Millisecond})
		t.Cleanup(srv.Close)
		c := &sse.Client{URL: srv.URL, Header: h, MaxBackoff: 50 * time.Millisecond}
		if rt != nil {
			c.HTTPClient = &http.Client{Transport: rt}
		}
		return c.Subscribe(testCtx(t), "room/1", bus.Oldest)
	}},
	{"longpoll", func(t *testing.T, b bus.Broker, rt http.RoundTripper, h http.Header) (bus.Subscription, error) {
		// Held for up to a minute: only the expiry answers it in time.
		srv := httptest.NewServer(&longpoll.Handler{Broker: b, Auth: tokens(), Timeout: time.Minute})
		t.Cleanup(srv.Close)
		c := &longpoll.Client{URL: srv.URL, Header: h, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
		if rt != nil {
			c.HTTPClient = &http.Client{Transport: rt}
		}
		return c.Subscribe(testCtx(t), "room/1", bus.Oldest)
	}},
	{"ws", func(t *testing.T, b bus.Broker, rt http.RoundTripper, h http.Header) (bus.Subscription, error) {
		srv := newWS(t, &ws.Handler{Broker: b, Auth: tokens()})
		c := &ws.Client{URL: wsURL(srv), Header: h, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
		if rt != nil {
			c.HTTPClient = &http.Client{Transport: rt}
		}
		if err := c.Connect(testCtx(t)); err != nil {
			return nil, err
		}
		t.Cleanup(func() { c.Close() })
		return c.Subscribe(testCtx(t), "room/1", bus.Oldest)
	}},
}

// A live connection is ended when its token expires; the client comes back
// with a fresh token and resumes from its cursor: what was published while
// it was away arrives, with no gap (the clients' Trackers would end the
// subscription on one) and no duplicate.
func TestExpiryRefreshResume(t *testing.T) {
	for _, tc := range expiryCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			b := newBroker(t)
			m1, err := b.Publish(ctx, "room/1", bus.Message{Data: []byte("one")})
			require.NoError(t, err)
			rt, tr := newRefresher(t, 300*time.Millisecond)
			s, err := tc.subscribe(t, b, tr, nil)
			require.NoError(t, err)
			defer s.Close()
			select {
			case <-rt.fresh: // the first connection ended, at its expiry
			case <-ctx.Done():
				t.Fatal("the connection outlived its token")
			}
			m2, err := b.Publish(ctx, "room/1", bus.Message{Data: []byte("two")})
			require.NoError(t, err)
			close(rt.release)
			assert.Equal(t, m1.ID, recv(t, ctx, s).ID)
			assert.Equal(t, m2.ID, recv(t, ctx, s).ID)
		})
	}
}

// Without fresh credentials the client's next attempt is refused with 401
// and its subscription ends with that status.
func TestExpiryWithoutRefresh(t *testing.T) {
	for _, tc := range expiryCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			b := newBroker(t)
			exp := time.Now().Add(200 * time.Millisecond)
			s, err := tc.subscribe(t, b, nil, bearer(fmt.Sprintf("alice;%d", exp.UnixNano())))
			if err != nil {
				// The machine was slow: the token expired before the
				// subscription was made. That is a 401 too.
				require.Equal(t, http.StatusUnauthorized, statusOf(err), "%v", err)
				return
			}
			defer s.Close()
			for {
				select {
				case _, ok := <-s.C():
					if ok {
						continue
					}
					err := s.Err()
					assert.Equal(t, http.StatusUnauthorized, statusOf(err), "%v", err)
					assert.False(t, errors.Is(err, context.Canceled), "%v", err)
					return
				case <-ctx.Done():
					t.Fatal("the subscription outlived its token")
				}
			}
		})
	}
}
