package testnet_test

import (
	"fmt"
	"time"

	"github.com/pushpull/pushpull/testnet"
)

func ExamplePercentile() {
	latencies := []time.Duration{4 * time.Millisecond, 1 * time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}
	fmt.Println(testnet.Percentile(latencies, 50), testnet.Percentile(latencies, 100))
	// Output: 2ms 4ms
}
