package testnet

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		_ = c.Close()
	}
	return err
}

func TestProc(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	port := FreePorts(t, 1)[0]
	t.Setenv(childEnv, "listen:"+strconv.Itoa(port)) // the child inherits it
	p := StartProc(t, &Proc{Path: exe, Args: []string{"-test.run=^$"}, Port: port})
	require.True(t, p.Alive())
	assert.Positive(t, p.Pid())
	require.NoError(t, dial(p.Addr()), "the process serves once StartProc returns")
	assert.Contains(t, p.Output(), "listening on "+strconv.Itoa(port))

	p.Kill()
	assert.False(t, p.Alive())
	assert.Zero(t, p.Pid())
	assert.Error(t, dial(p.Addr()), "a killed process serves no more")
	p.Kill() // no-op

	p.Start()
	assert.True(t, p.Alive())
	assert.NoError(t, dial(p.Addr()), "a restarted process serves again")
}

func TestProcNeverReady(t *testing.T) {
	msg := failure(t, func(tb testing.TB) {
		StartProc(tb, &Proc{Path: "/bin/sleep", Args: []string{"30"}, Port: FreePorts(t, 1)[0], StartTimeout: 300 * time.Millisecond})
	})
	assert.Contains(t, msg, "/bin/sleep on port")
	assert.Contains(t, msg, "did not start")
}

func TestFreePortsDiffer(t *testing.T) {
	ports := FreePorts(t, 20)
	seen := map[int]bool{}
	for _, p := range ports {
		assert.False(t, seen[p], "port %d twice", p)
		assert.Positive(t, p)
		seen[p] = true
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	assert.Empty(t, failure(t, func(tb testing.TB) {
		WaitFor(tb, 5*time.Second, func() error {
			if n++; n < 3 {
				return fmt.Errorf("not yet")
			}
			return nil
		}, "counting")
	}))
	assert.Equal(t, 3, n)
	msg := failure(t, func(tb testing.TB) {
		WaitFor(tb, 100*time.Millisecond, func() error { return fmt.Errorf("never") }, "waiting for %s", "x")
	})
	assert.Equal(t, "waiting for x: never", msg)
}

func TestBinary(t *testing.T) {
	assert.NotEmpty(t, Binary(t, "sh"))
	t.Setenv(RequireServicesEnv, "1")
	msg := failure(t, func(tb testing.TB) { Binary(tb, "no-such-program-anywhere") })
	assert.Contains(t, msg, "no-such-program-anywhere not found")
}
