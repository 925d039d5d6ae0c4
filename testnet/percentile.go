package testnet

import (
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 to 100) of d: the value at
// index ⌊(len(d)−1)·p/100⌋ once sorted, or 0 for an empty d. It sorts d
// in place.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[int(float64(len(d)-1)*p/100)]
}
