package webhook

import (
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// DefaultSchedule is the delay before each retry after a failed attempt, in
// the spirit of Standard Webhooks and Svix: eight attempts over about 27.6
// hours, each delay jittered by DefaultJitter.
var DefaultSchedule = []time.Duration{
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
}

// DefaultJitter is the fraction by which each scheduled delay varies, up or
// down, so that retries of many deliveries do not arrive together.
const DefaultJitter = 0.2

// scheduleBackOff is a backoff.BackOff that walks a fixed list of delays and
// then stops. Unlike backoff.ExponentialBackOff it has no elapsed-time
// limit: the schedule alone decides when to give up.
type scheduleBackOff struct {
	delays []time.Duration
	jitter float64
	n      int
}

var _ backoff.BackOff = (*scheduleBackOff)(nil)

func (b *scheduleBackOff) Reset() { b.n = 0 }

func (b *scheduleBackOff) NextBackOff() time.Duration {
	if b.n >= len(b.delays) {
		return backoff.Stop
	}
	d := b.delays[b.n]
	b.n++
	if b.jitter > 0 && d > 0 {
		f := 1 + b.jitter*(2*rand.Float64()-1)
		d = time.Duration(float64(d) * f)
	}
	return d
}
