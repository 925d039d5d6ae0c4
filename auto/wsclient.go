package auto

import (
	"context"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/ws"
)

// This file is the only use of the ws client: NewClient, its fields,
// Connect, Subscribe and Close.

// openWebSocket dials its own connection for one subscription and waits
// for the server's ack of the subscribe.
func openWebSocket(ctx context.Context, c *Client, url, topic, after string) (bus.Subscription, error) {
	dctx, cancel := context.WithTimeout(ctx, c.connectTimeout())
	defer cancel()
	wc := ws.NewClient(url)
	wc.HTTPClient, wc.Header, wc.Buffer, wc.Logger = c.transportHTTPClient(), c.Header, c.buffer(), c.logger()
	if err := wc.Connect(dctx); err != nil {
		wc.Close()
		return nil, err
	}
	sub, err := wc.Subscribe(ctx, topic, after)
	if err != nil {
		wc.Close()
		return nil, err
	}
	return &wsSubscription{Subscription: sub, client: wc}, nil
}

// wsSubscription closes its connection with the subscription.
type wsSubscription struct {
	bus.Subscription
	client *ws.Client
}

func (s *wsSubscription) Close() error {
	s.Subscription.Close()
	return s.client.Close()
}
