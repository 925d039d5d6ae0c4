package main

import (
	"testing"

	"github.com/pushpull/pushpull/examples/internal/measure"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// A run starts the running program again as its server: here, the
	// test binary.
	measure.ServeIfChild(serverEnv, serveChild)
	goleak.VerifyTestMain(m)
}
