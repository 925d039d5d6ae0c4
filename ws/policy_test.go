package ws_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry"
	"github.com/pushpull/pushpull/internal/retry/retrytest"
	"github.com/pushpull/pushpull/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clientSub is a subscription that closes its Client with it.
type clientSub struct {
	bus.Subscription
	c *ws.Client
}

func (s clientSub) Close() error {
	err := s.Subscription.Close()
	return errors.Join(err, s.c.Close())
}

// TestClientRetryPolicy: Connect and the reconnects retry what every client
// retries (the Handler's own 503 while it shuts down included), wait
// Retry-After, and end with a *StatusError on 400, 401, 403 and 404.
func TestClientRetryPolicy(t *testing.T) {
	retrytest.Run(t, retrytest.Harness{
		Prefix: "ws",
		NewHandler: func(b bus.Broker) (http.Handler, func(context.Context) error) {
			h := &ws.Handler{Broker: b}
			return h, h.Shutdown
		},
		Subscribe: func(ctx context.Context, hc *http.Client, topic, after string) (bus.Subscription, error) {
			c := ws.NewClient("ws://ws.test/")
			c.HTTPClient, c.MinBackoff, c.MaxBackoff = hc, 100*time.Millisecond, time.Second
			if err := c.Connect(ctx); err != nil {
				return nil, err
			}
			sub, err := c.Subscribe(ctx, topic, after)
			if err != nil {
				c.Close()
				return nil, err
			}
			return clientSub{sub, c}, nil
		},
		StatusOf: func(err error) (retry.Status, string, bool) {
			var se *ws.StatusError
			if !errors.As(err, &se) {
				return retry.Status{}, "", false
			}
			return retry.Status{StatusCode: se.StatusCode, Code: se.Code, Message: se.Message, RetryAfter: se.RetryAfter}, se.Error(), true
		},
	})
}

// TestDialBadURL: an address Connect can never reach fails at once rather than
// being retried until the context ends.
func TestDialBadURL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		for _, u := range []string{"ftp://example.test/", "://nothing", "example.test/ws"} {
			err := ws.NewClient(u).Connect(ctx)
			require.Error(t, err, u)
			assert.NotErrorIs(t, err, context.DeadlineExceeded, u)
			assert.Contains(t, err.Error(), "ws: dial", u)
		}
	})
}
