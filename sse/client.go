package sse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/httptopic"
	"github.com/pushpull/pushpull/internal/retry"
	"github.com/pushpull/pushpull/metrics"
)

// Defaults of the Client's fields.
const (
	DefaultMaxBackoff = 30 * time.Second
	DefaultBuffer     = 16
)

// Client subscribes to topics served by a Handler (or any server of
// text/event-stream whose event IDs are bus message IDs). It implements
// bus.Subscriber, so the same consumer code reads from an in-process broker
// or over SSE.
//
// It follows the WHATWG EventSource connection rules: it sends Accept:
// text/event-stream and Cache-Control: no-cache, and Last-Event-ID when it
// has a cursor (also on the first request, for a non-empty after); redirects
// are followed; a 200 response of type text/event-stream streams; 204 stops
// for good (ErrStopped); another media type is a permanent error
// (ErrNotEventStream). Other statuses follow the retry policy that all
// pushpull clients share (see the package doc): 408, 425, 429 and 5xx but
// 501 and 505 — such as the 503 of a Handler that is shutting down or
// over MaxStreams — are retried, honouring Retry-After; 400, 401, 403, 404
// and the other statuses end the subscription with a *StatusError. A clean
// end of stream, a network error or a retried status reconnects after the
// server's retry time plus, while connections keep failing, an exponential
// backoff with jitter (and at least the Retry-After), for as long as the
// context lasts.
//
// Create one with NewClient or as a struct literal. Fields must not be
// changed after the first Subscribe. A Client is safe for concurrent use.
type Client struct {
	// URL is the stream's address. A "{topic}" in it is replaced by the
	// path-escaped topic; without one, the topic is added as the "topic"
	// query parameter.
	URL string
	// HTTPClient sends the requests. Nil means http.DefaultClient. Its
	// Timeout, if any, would cut streams: leave it zero.
	HTTPClient *http.Client
	// Header holds extra request headers, such as Authorization.
	Header http.Header
	// Retry is the reconnection time used until the server sends a retry
	// field. Zero means DefaultRetry.
	Retry time.Duration
	// MaxBackoff caps the backoff added to the reconnection time after
	// consecutive failed connections. Zero means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// RetryStatuses lists response statuses that are retried (honouring
	// Retry-After) rather than ending the subscription, in addition to the
	// ones every client retries (408, 425, 429 and 5xx but 501 and 505).
	// Nil adds none.
	RetryStatuses []int
	// MaxEventSize bounds one event; a larger one ends the subscription
	// with an *EventTooLargeError. Zero means DefaultMaxEventSize.
	MaxEventSize int
	// Buffer is the capacity of each subscription's channel. Zero means
	// DefaultBuffer.
	Buffer int
	// Metrics, when set, is told of each connection (ConnOpened, and when
	// it ends ConnClosed), each message received (Delivered) and each
	// reset event received (Reset), as Transport "sse-client"; see
	// package metrics. Nil means no metrics.
	Metrics metrics.Recorder
}

var _ bus.Subscriber = (*Client)(nil)

// NewClient returns a Client for the stream at url (see Client.URL).
func NewClient(url string) *Client { return &Client{URL: url} }

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient == nil {
		return http.DefaultClient
	}
	return c.HTTPClient
}

func (c *Client) retry() time.Duration {
	if c.Retry > 0 {
		return c.Retry
	}
	return DefaultRetry
}

func (c *Client) maxBackoff() time.Duration {
	if c.MaxBackoff > 0 {
		return c.MaxBackoff
	}
	return DefaultMaxBackoff
}

func (c *Client) buffer() int {
	if c.Buffer > 0 {
		return c.Buffer
	}
	return DefaultBuffer
}

func (c *Client) streamURL(topic string) (string, error) {
	return httptopic.URL("sse", c.URL, topic, nil)
}

// Subscribe implements bus.Subscriber. It makes the first request before
// returning, so a refusal (403, 404, an invalid cursor, any status that is
// not retried) is its error; a network error or a retried status (503 …)
// is retried in the background instead. Then messages arrive on the
// subscription's channel, each exactly once and in order across
// reconnections.
//
// The subscription ends with an error wrapping bus.ErrCursorExpired (a
// *bus.CursorError) when the server sends a reset event, carrying the top
// to continue after, or when the IDs received skip a message, change
// epoch or are not message IDs (a bus.Tracker judges them); with
// ErrStopped on 204; with a *StatusError or ErrNotEventStream on a
// permanent refusal; with the context's error when ctx ends; and with nil
// after Close.
func (c *Client) Subscribe(ctx context.Context, topic, after string) (bus.Subscription, error) {
	if err := bus.ValidateTopic(topic); err != nil {
		return nil, err
	}
	track, err := bus.NewTracker(topic, after)
	if err != nil {
		return nil, err
	}
	u, err := c.streamURL(topic)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &clientSub{c: c, url: u, topic: topic, ch: make(chan bus.Message, c.buffer()), cancel: cancel, done: make(chan struct{}), track: track}
	resp, err := s.connect(ctx)
	var ae *attemptError
	if errors.As(err, &ae) && ae.permanent {
		cancel()
		return nil, ae.err
	}
	go s.run(ctx, resp, err)
	return s, nil
}

// An attemptError is a failed connection attempt.
type attemptError struct {
	err       error
	permanent bool
	wait      time.Duration // asked for by Retry-After
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

// connect makes one request and checks the response.
func (s *clientSub) connect(ctx context.Context) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, &attemptError{err: fmt.Errorf("sse: %w", err), permanent: true}
	}
	for k, v := range s.c.Header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if last := s.track.Cursor(); last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err := s.c.httpClient().Do(req)
	if err != nil {
		return nil, &attemptError{err: err}
	}
	switch resp.StatusCode {
	case http.StatusOK:
		mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if err == nil && mt == "text/event-stream" {
			return resp, nil
		}
		resp.Body.Close()
		return nil, &attemptError{err: fmt.Errorf("%w: %q", ErrNotEventStream, resp.Header.Get("Content-Type")), permanent: true}
	case http.StatusNoContent:
		resp.Body.Close()
		return nil, &attemptError{err: ErrStopped, permanent: true}
	}
	// A refusal: retried or not by the clients' one policy, plus
	// RetryStatuses.
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, retry.MaxBody))
	se := StatusError(retry.ReadStatus(resp, body, time.Now()))
	retryable := retry.Retryable(se.StatusCode) || slices.Contains(s.c.RetryStatuses, se.StatusCode)
	return nil, &attemptError{err: &se, permanent: !retryable, wait: se.RetryAfter}
}

// clientSub is a Client's subscription.
type clientSub struct {
	c      *Client
	url    string
	topic  string
	ch     chan bus.Message
	cancel context.CancelFunc
	done   chan struct{}
	closed atomic.Bool

	// Owned by the run goroutine (and Subscribe before it starts).
	track    *bus.Tracker  // continuity; its Cursor is the next Last-Event-ID
	retry    time.Duration // from the server's retry field
	hasRetry bool

	mu  sync.Mutex
	err error
}

func (s *clientSub) C() <-chan bus.Message { return s.ch }

func (s *clientSub) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *clientSub) Close() error {
	s.closed.Store(true)
	s.cancel()
	<-s.done
	return nil
}
