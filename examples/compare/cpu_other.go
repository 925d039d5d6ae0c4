//go:build !unix

package main

import "time"

// cpuTime returns 0: this system does not say what CPU time a process used.
func cpuTime() time.Duration { return 0 }
