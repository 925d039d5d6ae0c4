//go:build !unix

package testnet

import "time"

// CPUTime returns the user and system CPU time this process has used so
// far, or 0 where the system does not say.
func CPUTime() time.Duration { return 0 }
