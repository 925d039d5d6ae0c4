package natsbus

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestStreamConfigDirectGets(t *testing.T) {
	for _, tc := range []struct {
		replicas     int
		wantReplicas int
		wantDirect   bool
	}{
		{0, 1, true},
		{1, 1, true},
		{3, 3, false},
	} {
		cfg := (&Broker{Replicas: tc.replicas}).streamConfig()
		assert.Equal(t, tc.wantReplicas, cfg.Replicas, "Replicas %d", tc.replicas)
		assert.Equal(t, tc.wantDirect, cfg.AllowDirect, "Replicas %d", tc.replicas)
	}
}
