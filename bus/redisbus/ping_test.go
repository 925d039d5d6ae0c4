package redisbus_test

import (
	"context"
	"net"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/redisbus"
	"github.com/stretchr/testify/require"
)

func TestPing(t *testing.T) {
	ctx := context.Background()
	url := redisURL(t)
	b := newBroker(t, url, freshPrefix(t, url))
	require.NoError(t, b.Ping(ctx))
	require.NoError(t, b.Close())
	require.ErrorIs(t, b.Ping(ctx), bus.ErrClosed)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	down, err := redisbus.New("redis://" + addr)
	require.NoError(t, err)
	defer down.Close()
	require.Error(t, down.Ping(ctx))
}
