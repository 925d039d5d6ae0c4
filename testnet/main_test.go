package testnet

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		// TestChild runs this test binary again as a child.
		os.Exit(runChild(mode))
	}
	goleak.VerifyTestMain(m)
}
