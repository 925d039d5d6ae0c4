package measure

import (
	"context"
	"time"
)

// Pace calls step for k = 1 to n, step k being due at (k−1)/rate seconds
// after Pace began: it waits for each step's due time, and runs a late step
// at once, skipping none, so a late caller catches up. It returns step's
// first error, or ctx's error if ctx ends while it waits.
func Pace(ctx context.Context, n int, rate float64, step func(k int, due time.Time) error) error {
	start := time.Now()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for k := 1; k <= n; k++ {
		due := start.Add(time.Duration(float64(k-1) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			t.Reset(d)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		}
		if err := step(k, due); err != nil {
			return err
		}
	}
	return nil
}
