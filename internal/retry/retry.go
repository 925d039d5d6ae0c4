package retry

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// NewBackOff returns an exponential backoff with jitter from initial up to
// max between tries and no limit on the total time: callers stop through
// their context, never because a clock ran out. (backoff.NewExponentialBackOff
// gives up after 15 minutes by default.)
func NewBackOff(initial, max time.Duration) *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = initial
	b.MaxInterval = max
	b.MaxElapsedTime = 0
	b.RandomizationFactor = 0.5
	b.Multiplier = 2
	b.Reset()
	return b
}

// RetryAfter parses a Retry-After header value, either delay-seconds or an
// HTTP date, relative to now. It reports false for an empty or malformed
// value. The result is clamped to [0, max] when max > 0.
func RetryAfter(value string, now time.Time, max time.Duration) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	var d time.Duration
	if n, err := strconv.ParseUint(value, 10, 32); err == nil {
		d = time.Duration(n) * time.Second
	} else if at, err := http.ParseTime(value); err == nil {
		d = at.Sub(now)
	} else {
		return 0, false
	}
	if d < 0 {
		d = 0
	}
	if max > 0 && d > max {
		d = max
	}
	return d, true
}
