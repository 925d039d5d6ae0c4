package testnet

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCountingListener(t *testing.T) {
	t.Parallel()
	p := NewPipe()
	defer p.Close()
	cl := &CountingListener{Listener: p}
	client, server := pair(t, p, cl)

	got := readAll(client)
	_, err := io.WriteString(server, "hello")
	require.NoError(t, err)
	require.NoError(t, server.Close())
	assert.Equal(t, "hello", <-got)

	client2, server2 := pair(t, p, cl)
	go func() {
		_, _ = io.WriteString(client2, "hi!")
		client2.Close()
	}()
	b, err := io.ReadAll(server2)
	require.NoError(t, err)
	assert.Equal(t, "hi!", string(b))

	assert.Equal(t, int64(5), cl.Written.Load())
	assert.Equal(t, int64(3), cl.Read.Load())
}
