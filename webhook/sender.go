package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/pushpull/pushpull/internal/retry"
	"github.com/pushpull/pushpull/metrics"
)

// Defaults of the Sender's fields.
const (
	DefaultTimeout          = 15 * time.Second
	DefaultMaxRetryAfter    = time.Hour
	DefaultMaxResponseBytes = 1024
)

// An Endpoint is a receiver's URL and the keys deliveries to it are signed
// with. Topic and Types are used by the Dispatcher.
type Endpoint struct {
	// ID names the endpoint; the Dispatcher needs it unique and uses it in
	// the key of the endpoint's cursor.
	ID string
	// URL is where deliveries are POSTed.
	URL string
	// Keys sign every delivery: one signature per unexpired key.
	Keys Keyring
	// Topic is the bus topic the Dispatcher delivers from. It is a name,
	// not a function of a request as on the handlers and the Receiver: an
	// endpoint follows one topic from its registration on, and the topic
	// is part of the key its cursor is stored under.
	Topic string
	// Types, when not empty, restricts the Dispatcher to messages whose
	// Type is listed; an entry ending in ".*" matches a prefix
	// ("order.*" matches "order.paid").
	Types []string
	// From is where the Dispatcher starts when no cursor is stored for the
	// endpoint yet: "" means with the messages published from then on,
	// bus.Oldest with the whole retained history, a message ID after it.
	From string
	// Header holds extra request headers. It cannot replace the signature
	// headers or Content-Type.
	Header http.Header
	// RateLimit caps the Dispatcher's attempts to the endpoint per second
	// (a token bucket; retries, recoveries and replays count). Zero means
	// no limit.
	RateLimit float64
	// Burst is how many attempts may follow each other at once within
	// RateLimit after a pause. Zero means max(1, ceil(RateLimit)).
	Burst int
	// MaxConcurrent is how many messages the Dispatcher delivers to the
	// endpoint at once, at most half of the Dispatcher's own
	// MaxConcurrent. Zero or 1 means one at a time, in bus order.
	// Above 1, a receiver may get them out of order, while the stored
	// cursor still passes a message only once it and every message before
	// it are done.
	MaxConcurrent int
}

// A Delivery is one message to deliver: a stable id, sent as webhook-id on
// every attempt, and the body.
type Delivery struct {
	ID   string
	Body []byte
}

// An Attempt is the record of one POST of a delivery. It holds no secret and
// no signature.
type Attempt struct {
	Delivery string        // the delivery's webhook-id
	Endpoint string        // the endpoint's ID
	Message  string        // the bus message ID, when a Dispatcher made it
	Type     string        // the message's type, when a Dispatcher made it
	N        int           // 1 for the first attempt
	At       time.Time     // when the attempt started
	Status   int           // the response status, 0 when none arrived
	Latency  time.Duration // until the response headers, or the failure
	Error    string        // why the attempt failed, "" on success
	Response []byte        // the start of the response body (MaxResponseBytes)
	Next     time.Duration // the wait before the next attempt, 0 if none

	outcome    outcome
	retryAfter time.Duration
	err        error // the failure whose text is Error
}

// OK reports whether the attempt succeeded: a 2xx response and no error.
// It holds for an Attempt read back from a store or from JSON as well.
func (a Attempt) OK() bool {
	return a.outcome == outcomeOK || a.Error == "" && a.Status >= 200 && a.Status < 300
}

type outcome int

const (
	outcomeFail outcome = iota // retry on schedule
	outcomeOK
	outcomeGone  // 410: disable the endpoint
	outcomeSlow  // 429, 502, 503, 504, timeout: retry, honour Retry-After
	outcomeFatal // no retry can fix it: stop at once
)

// A fatalError is the failure of an attempt that no retry can fix: the
// endpoint's keyring has no usable key, the delivery id is invalid, the
// URL cannot be used or the SSRF guard refused its address. The Sender
// stops at once and the Dispatcher dead-letters the message.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// isFatal reports whether err ended a delivery without retries.
func isFatal(err error) bool {
	var f *fatalError
	return errors.As(err, &f)
}

// A Sender signs and POSTs deliveries and retries them on a schedule.
//
// The zero value is ready to use: it refuses private addresses (see
// AllowPrivateNetworks), times out each attempt after DefaultTimeout and
// retries on DefaultSchedule. Fields must not be changed after the first
// call. A Sender is safe for concurrent use.
type Sender struct {
	// Client sends the requests. Nil means a client whose dialer refuses
	// loopback, private, link-local and other internal addresses (the SSRF
	// guard) and that uses no proxy. A Client you set is used as it is, so
	// the guard is yours to provide; redirects are never followed either
	// way.
	Client *http.Client
	// AllowPrivateNetworks turns the SSRF guard of the default client off,
	// for tests and for deployments that deliver inside a trusted network.
	AllowPrivateNetworks bool
	// Timeout bounds each attempt, from dial to response headers and the
	// start of the body. Zero means DefaultTimeout.
	Timeout time.Duration
	// Schedule holds the delays before each retry; after the last one the
	// delivery is exhausted (dead-lettered by the Dispatcher). Nil means
	// DefaultSchedule. Each delay is jittered by Jitter.
	Schedule []time.Duration
	// Jitter is the fraction by which delays vary. Zero means
	// DefaultJitter; a negative value means none.
	Jitter float64
	// NewBackOff, when set, replaces Schedule: it returns a fresh backoff
	// per delivery, for example retry.NewBackOff wrapped in
	// backoff.WithMaxRetries. backoff.Stop ends the delivery. Make sure
	// its MaxElapsedTime does not cut the schedule short unknowingly.
	NewBackOff func() backoff.BackOff
	// MaxRetryAfter caps a Retry-After delay asked for by a 429, 502, 503
	// or 504 response. Zero means DefaultMaxRetryAfter. The wait is never
	// shorter than the scheduled delay.
	MaxRetryAfter time.Duration
	// MaxResponseBytes is how much of each response body an Attempt keeps.
	// Zero means DefaultMaxResponseBytes; negative means none.
	MaxResponseBytes int
	// UserAgent is sent with every request; empty means "pushpull-webhook".
	UserAgent string
	// Clock returns the current time for webhook-timestamp. Nil means
	// time.Now.
	Clock func() time.Time
	// Logger receives a debug record per attempt. Nil means no logging.
	Logger *slog.Logger
	// Metrics, when set, receives a WebhookAttempt event per attempt of
	// Send and a WebhookRetry per retry it schedules, with Transport
	// "webhook" (see Dispatcher.Metrics for their fields). A Dispatcher
	// reports its attempts to its own Metrics, not to this one. Nil
	// reports nothing.
	Metrics metrics.Recorder

	once   sync.Once
	client *http.Client
	guard  *guard // the default client's guard; tests replace its lookup
}

func (s *Sender) init() {
	s.once.Do(func() {
		if s.Client != nil {
			c := *s.Client
			c.CheckRedirect = noRedirect
			s.client = &c
			return
		}
		s.guard = &guard{allowPrivate: s.AllowPrivateNetworks, timeout: s.timeout()}
		s.client = &http.Client{
			CheckRedirect: noRedirect,
			Transport: &http.Transport{
				DialContext:         s.guard.dialContext,
				ForceAttemptHTTP2:   true,
				MaxIdleConnsPerHost: 8,
				IdleConnTimeout:     90 * time.Second,
				TLSHandshakeTimeout: 10 * time.Second,
			},
		}
	})
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func (s *Sender) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

func (s *Sender) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

func (s *Sender) maxRetryAfter() time.Duration {
	if s.MaxRetryAfter > 0 {
		return s.MaxRetryAfter
	}
	return DefaultMaxRetryAfter
}

func (s *Sender) maxResponse() int {
	switch {
	case s.MaxResponseBytes < 0:
		return 0
	case s.MaxResponseBytes == 0:
		return DefaultMaxResponseBytes
	}
	return s.MaxResponseBytes
}

func (s *Sender) backOff() backoff.BackOff {
	if s.NewBackOff != nil {
		return s.NewBackOff()
	}
	sched := s.Schedule
	if sched == nil {
		sched = DefaultSchedule
	}
	j := s.Jitter
	if j == 0 {
		j = DefaultJitter
	}
	return &scheduleBackOff{delays: sched, jitter: j}
}

// CloseIdleConnections closes the idle connections of the Sender's client.
func (s *Sender) CloseIdleConnections() {
	s.init()
	s.client.CloseIdleConnections()
}

// Attempt makes one signed POST of d to ep, with a fresh timestamp and
// signature, and reports how it went. It does not retry.
func (s *Sender) Attempt(ctx context.Context, ep *Endpoint, d Delivery) Attempt {
	s.init()
	a := Attempt{Delivery: d.ID, Endpoint: ep.ID, N: 1, At: s.now()}
	err := s.post(ctx, ep, d, &a)
	if err != nil {
		a.Error = err.Error()
	}
	s.log(ctx, &a)
	return a
}

func (s *Sender) post(ctx context.Context, ep *Endpoint, d Delivery, a *Attempt) error {
	fatal := func(err error) error {
		a.outcome = outcomeFatal
		return fmt.Errorf("webhook: endpoint %q: %w", ep.ID, err)
	}
	sig, err := Sign(ep.Keys, d.ID, a.At, d.Body)
	if err != nil {
		return fatal(err) // ErrNoKeys or ErrInvalidID
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(d.Body))
	if err != nil {
		return fatal(err)
	}
	if (req.URL.Scheme != "http" && req.URL.Scheme != "https") || req.URL.Host == "" {
		return fatal(errors.New("URL must be absolute http or https"))
	}
	for k, vs := range ep.Header {
		req.Header[k] = vs
	}
	ua := s.UserAgent
	if ua == "" {
		ua = "pushpull-webhook"
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderID, d.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(a.At.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	start := time.Now()
	resp, err := s.client.Do(req)
	a.Latency = time.Since(start)
	if err != nil {
		switch {
		case errors.Is(err, ErrForbiddenAddress):
			a.outcome = outcomeFatal
		case isTimeout(err):
			a.outcome = outcomeSlow
		}
		return err
	}
	defer resp.Body.Close()
	c := resp.StatusCode
	a.Status = c
	ok := c >= 200 && c < 300
	// The start of the body: MaxResponseBytes of it for the Attempt and,
	// on a refusal, up to retry.MaxBody for the StatusError's message.
	n := s.maxResponse()
	keep := n
	if !ok {
		keep = max(n, retry.MaxBody)
	}
	var head []byte
	if keep > 0 {
		head, _ = io.ReadAll(io.LimitReader(resp.Body, int64(keep)))
	}
	if n > 0 {
		a.Response = head
		if len(head) > n {
			a.Response = bytes.Clone(head[:n])
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if ok {
		a.outcome = outcomeOK
		return nil
	}
	now := s.now()
	se := StatusError(retry.ReadStatus(resp, head, now))
	se.RetryAfter, _ = retry.RetryAfter(resp.Header.Get("Retry-After"), now, s.maxRetryAfter())
	switch c {
	case http.StatusGone:
		a.outcome = outcomeGone
		return fmt.Errorf("%w: %w", ErrGone, &se)
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		a.outcome = outcomeSlow
		a.retryAfter = se.RetryAfter
	}
	return &se
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func (s *Sender) log(ctx context.Context, a *Attempt) {
	if s.Logger == nil {
		return
	}
	s.Logger.LogAttrs(ctx, slog.LevelDebug, "webhook attempt",
		slog.String("endpoint", a.Endpoint), slog.String("delivery", a.Delivery),
		slog.Int("attempt", a.N), slog.Int("status", a.Status),
		slog.Duration("latency", a.Latency), slog.String("error", a.Error))
}

// Send delivers d to ep, retrying on the schedule until an attempt
// succeeds, the endpoint answers 410 Gone (ErrGone), the schedule is
// exhausted (ErrExhausted, wrapping the last attempt's error, such as a
// *StatusError) or ctx is done. It returns every attempt.
//
// An error that no retry can fix ends Send after the first attempt, with
// the cause in the chain: ErrForbiddenAddress (the SSRF guard refused the
// endpoint's address; see AllowPrivateNetworks), ErrNoKeys (ep.Keys has no
// unexpired key), ErrInvalidID (d.ID is not [A-Za-z0-9_-]+), or a URL that
// is not absolute http or https.
func (s *Sender) Send(ctx context.Context, ep *Endpoint, d Delivery) ([]Attempt, error) {
	b := s.backOff()
	var log []Attempt
	for n := 1; ; n++ {
		a, err := s.try(ctx, b, ep, d, n)
		if s.Metrics != nil {
			reportAttempt(s.Metrics, ep.Topic, &a, err)
		}
		s.log(ctx, &a)
		log = append(log, a)
		if a.OK() || err != nil {
			return log, err
		}
		if err := sleep(ctx, a.Next); err != nil {
			return log, err
		}
	}
}

// try makes attempt n of delivering d to ep and decides what follows it:
// it returns the error that ends the delivery (nil when the attempt
// succeeded), or sets the attempt's Next to the wait before the next one,
// taken from b, the delivery's backoff. It neither logs nor waits: its
// callers, Send and the Dispatcher's delivery loop, do.
func (s *Sender) try(ctx context.Context, b backoff.BackOff, ep *Endpoint, d Delivery, n int) (Attempt, error) {
	s.init()
	a := Attempt{Delivery: d.ID, Endpoint: ep.ID, N: n, At: s.now()}
	perr := s.post(ctx, ep, d, &a)
	if perr != nil {
		a.Error, a.err = perr.Error(), perr
	}
	switch {
	case a.outcome == outcomeOK:
		return a, nil
	case a.outcome == outcomeGone:
		return a, perr // wraps ErrGone and the *StatusError
	case a.outcome == outcomeFatal:
		return a, &fatalError{perr}
	case ctx.Err() != nil:
		return a, ctx.Err()
	}
	delay := b.NextBackOff()
	if delay == backoff.Stop {
		return a, fmt.Errorf("%w after %d attempts: %w", ErrExhausted, n, perr)
	}
	if a.outcome == outcomeSlow && a.retryAfter > delay {
		delay = a.retryAfter
	}
	a.Next = delay
	return a, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
