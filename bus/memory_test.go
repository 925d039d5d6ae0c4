package bus_test

import (
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemoryConformance(t *testing.T) {
	bustest.Run(t, func(testing.TB) bus.Broker { return &bus.Memory{} })
}

func TestMemoryConformanceSmall(t *testing.T) {
	bustest.Run(t, func(testing.TB) bus.Broker {
		return &bus.Memory{HistorySize: 1000, Buffer: 1, MaxLag: 8, StallTimeout: 50 * time.Millisecond}
	})
}
