package longpoll_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry"
	"github.com/pushpull/pushpull/internal/retry/retrytest"
	"github.com/pushpull/pushpull/longpoll"
)

// TestClientRetryPolicy: the Client retries what every client retries (the
// Handler's own 503 while it shuts down included), waits Retry-After, and ends with a *StatusError on 400, 401, 403 and 404.
func TestClientRetryPolicy(t *testing.T) {
	retrytest.Run(t, retrytest.Harness{
		Prefix: "longpoll",
		NewHandler: func(b bus.Broker) (http.Handler, func(context.Context) error) {
			h := &longpoll.Handler{Broker: b}
			return h, h.Shutdown
		},
		Subscribe: func(ctx context.Context, hc *http.Client, topic, after string) (bus.Subscription, error) {
			c := &longpoll.Client{URL: "http://longpoll.test/", HTTPClient: hc,
				MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
			return c.Subscribe(ctx, topic, after)
		},
		StatusOf: func(err error) (retry.Status, string, bool) {
			var se *longpoll.StatusError
			if !errors.As(err, &se) {
				return retry.Status{}, "", false
			}
			return retry.Status(*se), se.Error(), true
		},
	})
}
