package bus_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
)

func BenchmarkMemory(b *testing.B) {
	bustest.Bench(b, func(testing.TB) bus.Broker { return &bus.Memory{} })
}
