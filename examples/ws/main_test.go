package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(loadClientEnv) != "" {
		// The benchmarks re-run this test binary as their client process.
		os.Exit(runLoadClient())
	}
	goleak.VerifyTestMain(m)
}
