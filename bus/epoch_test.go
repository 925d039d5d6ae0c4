package bus_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewEpoch(t *testing.T) {
	seen := map[string]bool{}
	length := len(bus.NewEpoch())
	for range 1000 {
		e := bus.NewEpoch()
		require.True(t, bus.ValidEpoch(e), "%q", e)
		require.Len(t, e, length, "%q", e)
		for _, c := range e {
			require.True(t, c >= '0' && c <= '9' || c >= 'a' && c <= 'z', "%q", e)
		}
		require.False(t, seen[e], "%q twice", e)
		seen[e] = true
	}
	assert.GreaterOrEqual(t, length, 12)
}
