package auto

import (
	"context"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/poll"
	"github.com/pushpull/pushpull/sse"
)

// An openFunc opens a subscription to topic after the cursor after over one
// transport at url, whose lifetime is ctx's. It returns once the transport
// has answered its first request (or the handshake and ack).
type openFunc func(ctx context.Context, c *Client, url, topic, after string) (bus.Subscription, error)

// opener returns how to open the transport name, or nil for a transport
// this client does not know.
func opener(name string) openFunc {
	switch name {
	case WebSocket:
		return openWebSocket
	case SSE:
		return openSSE
	case LongPoll:
		return openLongPoll
	case Poll:
		return openPoll
	}
	return nil
}

func openSSE(ctx context.Context, c *Client, url, topic, after string) (bus.Subscription, error) {
	sc := &sse.Client{URL: url, HTTPClient: c.transportHTTPClient(), Header: c.Header, Buffer: c.buffer()}
	return sc.Subscribe(ctx, topic, after)
}

func openLongPoll(ctx context.Context, c *Client, url, topic, after string) (bus.Subscription, error) {
	lc := &longpoll.Client{URL: url, HTTPClient: c.transportHTTPClient(), Header: c.Header, Buffer: c.buffer()}
	return lc.Subscribe(ctx, topic, after)
}

func openPoll(ctx context.Context, c *Client, url, topic, after string) (bus.Subscription, error) {
	pc := &poll.Client{URL: url, HTTPClient: c.transportHTTPClient(), Header: c.Header, Buffer: c.buffer(), Interval: c.PollInterval}
	return pc.Subscribe(ctx, topic, after)
}
