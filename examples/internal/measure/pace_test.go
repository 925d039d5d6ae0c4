package measure_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushpull/pushpull/examples/internal/measure"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPace runs on the bubble's fake clock: each step runs when due, and a
// slow step makes the next ones run at once until they are due again.
func TestPace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration
		err := measure.Pace(t.Context(), 5, 10, func(k int, due time.Time) error {
			assert.Equal(t, start.Add(time.Duration(k-1)*100*time.Millisecond), due, "step %d", k)
			at = append(at, time.Since(start))
			if k == 2 {
				time.Sleep(250 * time.Millisecond) // steps 3 and 4 are late
			}
			return nil
		})
		require.NoError(t, err)
		ms := time.Millisecond
		assert.Equal(t, []time.Duration{0, 100 * ms, 350 * ms, 350 * ms, 400 * ms}, at)
	})
}

func TestPaceStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		steps := 0
		err := measure.Pace(t.Context(), 5, 10, func(k int, _ time.Time) error {
			steps++
			if k == 3 {
				return boom
			}
			return nil
		})
		assert.ErrorIs(t, err, boom)
		assert.Equal(t, 3, steps)

		ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
		defer cancel()
		steps = 0
		err = measure.Pace(ctx, 5, 10, func(int, time.Time) error { steps++; return nil })
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 2, steps)
	})
}

func ExamplePace() {
	_ = measure.Pace(context.Background(), 3, 1000, func(k int, _ time.Time) error {
		fmt.Println("step", k)
		return nil
	})
	// Output:
	// step 1
	// step 2
	// step 3
}
