package pollwire

import (
	"context"
	"fmt"
	"github.com/pushpull/pushpull/internal/httptopic"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pushpull/pushpull/internal/retry"
)

// Header names.
const (
	HeaderPollInterval = "X-Poll-Interval"
	HeaderRetryAfter   = "Retry-After"
)

// MaxAdvice bounds the waits a server may impose with X-Poll-Interval or
// Retry-After.
const MaxAdvice = retry.MaxRetryAfter

// Endpoint sends the requests of one client.
type Endpoint struct {
	Base        string                   // handler URL; "{topic}" in it is replaced by the topic, else a topic parameter is added
	HTTPClient  *http.Client             // nil: http.DefaultClient
	Header      http.Header              // added to every request
	MaxBody     int64                    // largest answer body read
	Prefix      string                   // package name for error messages
	StatusError func(retry.Status) error // makes the package's *StatusError
}

// NewEndpoint returns the Endpoint of a client of package prefix for the
// Handler at base; maxBody <= 0 means defMaxBody. statusError makes the
// package's *StatusError.
func NewEndpoint(prefix, base string, hc *http.Client, header http.Header, maxBody, defMaxBody int64, statusError func(retry.Status) error) *Endpoint {
	if maxBody <= 0 {
		maxBody = defMaxBody
	}
	return &Endpoint{Base: base, HTTPClient: hc, Header: header, MaxBody: maxBody, Prefix: prefix, StatusError: statusError}
}

// An Answer is a successful (200 or 304) answer.
type Answer struct {
	NotModified  bool
	Batch        Batch
	ETag         string
	PollInterval time.Duration // from X-Poll-Interval, 0 when absent
}

// A FetchError is a failed request, with the server's advice on when to
// retry.
type FetchError struct {
	Err        error
	Permanent  bool          // repeating the same request cannot succeed
	RetryAfter time.Duration // from Retry-After, zero when absent
}

// Error implements error.
func (e *FetchError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *FetchError) Unwrap() error { return e.Err }

// URL returns the request URL for topic with the query parameters q.
func (e *Endpoint) URL(topic string, q url.Values) (string, error) {
	return httptopic.URL(e.Prefix, e.Base, topic, q)
}

// Fetch sends one GET request and reads its answer. Errors are *FetchError.
func (e *Endpoint) Fetch(ctx context.Context, topic, cursor string, q url.Values, etag string) (Answer, error) {
	u, err := e.URL(topic, q)
	if err != nil {
		return Answer{}, &FetchError{Err: err, Permanent: true}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Answer{}, &FetchError{Err: fmt.Errorf("%s: %w", e.Prefix, err), Permanent: true}
	}
	for k, vs := range e.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", ContentType)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	hc := e.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Answer{}, &FetchError{Err: fmt.Errorf("%s: %w", e.Prefix, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotModified {
		// A refusal: retried or not by the clients' one policy.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, retry.MaxBody))
		st := retry.ReadStatus(resp, body, time.Now())
		return Answer{}, &FetchError{
			Err:        DecodeError(st, body, topic, cursor, e.Prefix, e.StatusError),
			Permanent:  !retry.Retryable(st.StatusCode),
			RetryAfter: st.RetryAfter,
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, e.MaxBody+1))
	if err != nil {
		return Answer{}, &FetchError{Err: fmt.Errorf("%s: read answer: %w", e.Prefix, err)}
	}
	if int64(len(body)) > e.MaxBody {
		return Answer{}, &FetchError{Err: fmt.Errorf("%s: %w: answer larger than %d bytes", e.Prefix, ErrMalformed, e.MaxBody), Permanent: true}
	}
	a := Answer{NotModified: resp.StatusCode == http.StatusNotModified, ETag: resp.Header.Get("ETag")}
	a.PollInterval = ParseInterval(resp.Header.Get(HeaderPollInterval))
	if !a.NotModified {
		if a.Batch, err = DecodeBatch(body, topic); err != nil {
			return Answer{}, &FetchError{Err: fmt.Errorf("%s: %w", e.Prefix, err), Permanent: true}
		}
	}
	return a, nil
}

// ParseInterval parses X-Poll-Interval: seconds, an integer or a decimal
// number. It returns 0 for an absent or malformed value and clamps to
// MaxAdvice.
func ParseInterval(v string) time.Duration {
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || !(f > 0) {
		return 0
	}
	if f*float64(time.Second) >= float64(MaxAdvice) {
		return MaxAdvice
	}
	return time.Duration(f * float64(time.Second))
}

// FormatInterval formats d for X-Poll-Interval: whole seconds when d is a
// whole number of seconds, else seconds with up to three decimals.
func FormatInterval(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
