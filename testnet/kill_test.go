package testnet

import (
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKillListenerMaxBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		maxBytes int
		writes   []int
		disarm   bool
		wantKill bool
	}{
		{name: "cut inside a large write", maxBytes: 10, writes: []int{100}, wantKill: true},
		{name: "cut across small writes", maxBytes: 10, writes: []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, wantKill: true},
		{name: "within the budget", maxBytes: 10, writes: []int{1}},
		{name: "disarmed", maxBytes: 10, writes: []int{100}, disarm: true},
		{name: "no limit", writes: []int{1 << 16}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := NewPipe()
			defer p.Close()
			kl := &KillListener{Listener: p, MaxBytes: tc.maxBytes}
			if tc.disarm {
				kl.Disarm()
			}
			client, server := pair(t, p, kl)
			got := readAll(client)
			sent, total := 0, 0
			var err error
			for _, n := range tc.writes {
				var w int
				w, err = server.Write([]byte(strings.Repeat("x", n)))
				sent += w
				total += n
				if err != nil {
					break
				}
			}
			if tc.wantKill {
				require.ErrorIs(t, err, net.ErrClosed)
				assert.Equal(t, 1, kl.Kills())
				assert.LessOrEqual(t, sent, tc.maxBytes)
				assert.Equal(t, sent, len(<-got), "the client got what was written, then the end")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, total, sent)
			require.NoError(t, server.Close())
			assert.Equal(t, total, len(<-got))
			assert.Zero(t, kl.Kills())
		})
	}
}

func TestKillListenerKillRandom(t *testing.T) {
	t.Parallel()
	p := NewPipe()
	defer p.Close()
	kl := &KillListener{Listener: p}
	assert.False(t, kl.KillRandom(), "nothing to kill")

	c1, _ := pair(t, p, kl)
	c2, _ := pair(t, p, kl)
	_, s3 := pair(t, p, kl)
	require.NoError(t, s3.Close(), "closed by its owner, so not open to kills")
	assert.Equal(t, 3, kl.Accepted())

	got1, got2 := readAll(c1), readAll(c2)
	assert.True(t, kl.KillRandom())
	assert.True(t, kl.KillRandom())
	assert.False(t, kl.KillRandom(), "all killed")
	assert.Empty(t, <-got1, "end of stream")
	assert.Empty(t, <-got2, "end of stream")
	assert.Equal(t, 2, kl.Kills())
	assert.Equal(t, 3, kl.Accepted())
}
