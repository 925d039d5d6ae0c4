package longpoll

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire"
	"github.com/pushpull/pushpull/metrics"
)

// Defaults of the Client's fields.
const (
	DefaultMinBackoff   = 500 * time.Millisecond
	DefaultMaxBackoff   = 30 * time.Second
	DefaultMaxBodyBytes = 32 << 20
	DefaultBuffer       = 16
)

// Client subscribes to a topic served by a Handler by long polling: it asks
// again at once after each answer (after MinBackoff when an empty answer
// came back in under 100 ms, so a server that does not hold requests cannot
// make it spin), retries failed requests with exponential backoff and
// jitter, waiting at least the server's Retry-After, and gives up on the
// statuses that repeating cannot fix (see the retry policy in the package
// doc). It checks that message IDs follow each other and drops duplicates.
// It implements bus.Subscriber.
//
// Create one with NewClient or as a struct literal with URL set. Fields must
// not be changed after the first Subscribe. A Client is safe for concurrent
// use; each subscription runs one goroutine, which ends before its Close
// returns.
type Client struct {
	// URL is the address of the Handler. "{topic}" in it is replaced by
	// the escaped topic; without it the topic goes in the "topic" query
	// parameter.
	URL string
	// HTTPClient sends the requests. Nil means http.DefaultClient. Its
	// Timeout, if any, must exceed the time the server holds a request.
	HTTPClient *http.Client
	// Header is added to every request, for example Authorization.
	Header http.Header
	// Timeout asks the server to hold a request at most this long (the
	// timeout parameter). Zero leaves the server's default; the server
	// never holds longer than its own Timeout.
	Timeout time.Duration
	// Limit is the most messages asked for per request. Zero leaves the
	// server's limit.
	Limit int
	// MinBackoff and MaxBackoff bound the exponential backoff after a
	// failed request. Zero means DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// MaxBodyBytes is the largest answer read. Zero means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Buffer is the capacity of a subscription's channel. Zero means
	// DefaultBuffer.
	Buffer int
	// Metrics, when set, is told of each message received (Delivered)
	// and each expired cursor (Reset), as Transport "longpoll-client"; see
	// package metrics. A poll opens no connection: no ConnOpened.
	Metrics metrics.Recorder
}

var _ bus.Subscriber = (*Client)(nil)

// NewClient returns a Client for the Handler at url.
func NewClient(url string) *Client { return &Client{URL: url} }

// Subscribe implements bus.Subscriber. It makes a first request that the
// server answers without holding it (timeout=0) before returning, so a
// refused topic or cursor is reported here: 410 as a *bus.CursorError
// wrapping bus.ErrCursorExpired with the server's top, 400 as
// bus.ErrInvalidCursor or bus.ErrInvalidTopic, other statuses as a
// *StatusError. Failures that may pass (network errors, 408, 425, 429 and
// 5xx but 501 and 505: the retry policy of the package doc) are retried
// with backoff, waiting at least the server's Retry-After, until ctx is
// done; ctx's error then wraps the last failure.
//
// The cursor after means what it means for the Handler (see Cursors in
// the package doc): with "" the subscription delivers only what is
// published after Subscribe returns (the first request learns the topic's
// top); with Latest it delivers the topic's newest retained message, then
// what follows it, the way to show a current value; with bus.Oldest every
// retained message; with a message ID what follows it.
//
// The subscription ends with the context, with Close, with a status that
// repeating cannot fix (its Err tells which) or when the server breaks the
// continuity of IDs (bus.ErrCursorExpired).
func (c *Client) Subscribe(ctx context.Context, topic, after string) (bus.Subscription, error) {
	ep := pollwire.NewEndpoint("longpoll", c.URL, c.HTTPClient, c.Header, c.MaxBodyBytes, DefaultMaxBodyBytes, newStatusError)
	s, err := pollwire.Subscribe(ctx, &poller{c: c, topic: topic, ep: ep}, topic, after, c.Buffer, DefaultBuffer)
	if err != nil {
		return nil, err // not a nil *pollwire.Sub in a non-nil interface
	}
	return s, nil
}

type poller struct {
	c     *Client
	topic string
	ep    *pollwire.Endpoint
	sent  time.Time // when the last request was sent
	first bool      // the last request was the first, not held (timeout=0)
}

// minHold is the least time an empty answer should take: one that comes
// back sooner (a server or proxy that does not hold requests) is followed by
// a pause of MinBackoff instead of a new request at once, so the client
// never spins.
const minHold = 100 * time.Millisecond

func (p *poller) Prefix() string { return p.ep.Prefix }

func (p *poller) Metrics() metrics.Recorder { return p.c.Metrics }

func (p *poller) Fetch(ctx context.Context, cursor, _ string, first bool) (pollwire.Answer, error) {
	p.sent, p.first = time.Now(), first
	q := url.Values{}
	if cursor != "" {
		q.Set(pollwire.ParamAfter, cursor)
	}
	switch {
	case first:
		q.Set(pollwire.ParamTimeout, "0")
	case p.c.Timeout > 0:
		q.Set(pollwire.ParamTimeout, strconv.FormatFloat(p.c.Timeout.Seconds(), 'f', -1, 64))
	}
	if p.c.Limit > 0 {
		q.Set(pollwire.ParamLimit, strconv.Itoa(p.c.Limit))
	}
	return p.ep.Fetch(ctx, p.topic, cursor, q, "")
}

func (p *poller) Delay(a pollwire.Answer) time.Duration {
	if p.first || len(a.Batch.Messages) > 0 || time.Since(p.sent) >= minHold {
		return 0
	}
	if p.c.MinBackoff > 0 {
		return p.c.MinBackoff
	}
	return DefaultMinBackoff
}

func (p *poller) BackOff() backoff.BackOff {
	return pollwire.NewBackOff(p.c.MinBackoff, p.c.MaxBackoff, DefaultMinBackoff, DefaultMaxBackoff)
}
