package testnet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		d    []time.Duration
		p    float64
		want time.Duration
	}{
		{name: "empty", p: 50, want: 0},
		{name: "one", d: []time.Duration{7}, p: 99, want: 7},
		{name: "median unsorted", d: []time.Duration{5, 1, 4, 2, 3}, p: 50, want: 3},
		{name: "min", d: []time.Duration{5, 1, 4, 2, 3}, p: 0, want: 1},
		{name: "max", d: []time.Duration{5, 1, 4, 2, 3}, p: 100, want: 5},
		{name: "p99 rounds down", d: []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, p: 99, want: 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, Percentile(tc.d, tc.p))
		})
	}
}
