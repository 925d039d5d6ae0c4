package redisbus_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushpull/pushpull/testnet"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// startRedisProc starts a redis-server (or sentinel) of the test's own with
// args, listening on port, and waits until it answers PING.
func startRedisProc(t testing.TB, port int, path string, args ...string) *testnet.Proc {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return testnet.StartProc(t, &testnet.Proc{Path: path, Args: args, Port: port, Ready: func(ctx context.Context) error {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		defer c.Close()
		return c.Ping(ctx).Err()
	}})
}

// infoField returns a field of the server's INFO output.
func infoField(ctx context.Context, c *redis.Client, section, field string) (string, error) {
	info, err := c.Info(ctx, section).Result()
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("no %s in INFO %s", field, section)
}

// procCPU returns the user and system CPU time the process used (Linux
// only).
func procCPU(tb testing.TB, p *testnet.Proc) time.Duration {
	pid := p.Pid()
	if pid == 0 {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Skipf("no CPU times: %v", err)
	}
	// The fields after the command name, which ends with ')': utime and
	// stime are the 12th and 13th, in clock ticks of 1/100 s on Linux.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		require.NoError(tb, err)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
