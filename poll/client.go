package poll

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

// Client subscribes to a topic served by a Handler by polling it. It
// implements bus.Subscriber.
//
// It waits Interval, or the server's X-Poll-Interval when that is longer,
// plus up to a fifth more at random, between requests; asks again at once
// after a full batch; sends If-None-Match with the ETag of the previous
// answer; retries failed requests with exponential backoff and jitter,
// waiting at least the server's Retry-After, and gives up on the statuses
// that repeating cannot fix (see the retry policy in the package doc). It
// checks that message IDs follow each other and drops duplicates.
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
	// HTTPClient sends the requests. Nil means http.DefaultClient.
	HTTPClient *http.Client
	// Header is added to every request, for example Authorization.
	Header http.Header
	// Interval is the least time between two polls. Zero means
	// DefaultInterval. The server's X-Poll-Interval wins when longer.
	Interval time.Duration
	// Limit is the most messages asked for per request. Zero means
	// DefaultLimit; the server may cap it lower.
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
	// and each expired cursor (Reset), as Transport "poll-client"; see
	// package metrics. A poll opens no connection: no ConnOpened.
	Metrics metrics.Recorder
}

var _ bus.Subscriber = (*Client)(nil)

// NewClient returns a Client for the Handler at url.
func NewClient(url string) *Client { return &Client{URL: url} }

// Subscribe implements bus.Subscriber. It polls once before returning, so
// a refused topic or cursor is reported here: 410 as a *bus.CursorError
// wrapping bus.ErrCursorExpired with the server's top, 400 as
// bus.ErrInvalidCursor or bus.ErrInvalidTopic, other statuses as a
// *StatusError. Failures that may pass (network errors, 408, 425, 429 and
// 5xx but 501 and 505: the retry policy of the package doc) are retried
// with backoff, waiting at least the server's Retry-After, until ctx is
// done; ctx's error then wraps the last failure.
//
// The cursor after means what it means for the Handler (see Cursors in
// the package doc): with "" the subscription delivers only what is
// published after Subscribe returns (the first poll, with limit=0, only
// learns the topic's top); with Latest it delivers the topic's newest
// retained message, then what follows it, the way to show a current value;
// with bus.Oldest every retained message; with a message ID what follows
// it. The subscription ends with the context, with Close, with a status that repeating cannot
// fix (its Err tells which) or when the server breaks the continuity of
// IDs (bus.ErrCursorExpired).
func (c *Client) Subscribe(ctx context.Context, topic, after string) (bus.Subscription, error) {
	ep := pollwire.NewEndpoint("poll", c.URL, c.HTTPClient, c.Header, c.MaxBodyBytes, DefaultMaxBodyBytes, newStatusError)
	s, err := pollwire.Subscribe(ctx, &poller{c: c, topic: topic, ep: ep}, topic, after, c.Buffer, DefaultBuffer)
	if err != nil {
		return nil, err // not a nil *pollwire.Sub in a non-nil interface
	}
	return s, nil
}

func (c *Client) limit() int {
	if c.Limit > 0 {
		return c.Limit
	}
	return DefaultLimit
}

type poller struct {
	c     *Client
	topic string
	ep    *pollwire.Endpoint
}

func (p *poller) Prefix() string { return p.ep.Prefix }

func (p *poller) Metrics() metrics.Recorder { return p.c.Metrics }

func (p *poller) Fetch(ctx context.Context, cursor, etag string, first bool) (pollwire.Answer, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set(pollwire.ParamAfter, cursor)
	}
	limit := p.c.limit()
	if first && cursor == "" {
		limit = 0 // only the top
	}
	q.Set(pollwire.ParamLimit, strconv.Itoa(limit))
	return p.ep.Fetch(ctx, p.topic, cursor, q, etag)
}

func (p *poller) Delay(a pollwire.Answer) time.Duration {
	if !a.NotModified && len(a.Batch.Messages) >= p.c.limit() {
		return 0 // more is waiting
	}
	d := p.c.Interval
	if d <= 0 {
		d = DefaultInterval
	}
	return pollwire.Jitter(max(d, a.PollInterval))
}

func (p *poller) BackOff() backoff.BackOff {
	return pollwire.NewBackOff(p.c.MinBackoff, p.c.MaxBackoff, DefaultMinBackoff, DefaultMaxBackoff)
}
