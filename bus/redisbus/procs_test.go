package redisbus_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// binary finds a program the test needs, skipping the test without it
// (failing it when PUSHPULL_REQUIRE_SERVICES=1).
func binary(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("PUSHPULL_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s not found: %v", name, err)
		}
		t.Skipf("%s not found (install it to run this test): %v", name, err)
	}
	return path
}

// freePorts returns n loopback ports that were free a moment ago: all are
// held open together, so they differ.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// proc is a server process of the test's own, killed when the test ends.
type proc struct {
	t    testing.TB
	path string
	args []string
	port int // its client port, pinged after start

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  bytes.Buffer // what it printed, shown when the test fails
}

// startProc starts path with args and waits until it answers PING on port.
func startProc(t testing.TB, port int, path string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, path: path, args: args, port: port}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", p.path, strings.Join(p.args, " "), p.output())
		}
	})
	p.start()
	return p
}

func (p *proc) addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

type lockedWriter struct{ p *proc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// start (re)starts the process and waits until it answers.
func (p *proc) start() {
	p.t.Helper()
	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout, cmd.Stderr = lockedWriter{p}, lockedWriter{p}
	require.NoError(p.t, cmd.Start())
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: p.addr(), MaxRetries: -1})
	defer c.Close()
	waitFor(p.t, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		return c.Ping(ctx).Err()
	}, "%s on port %d did not start", p.path, p.port)
}

// kill kills the process (SIGKILL, as a crash) and waits for it to end.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

func (p *proc) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// waitFor calls f until it returns nil, failing the test with msg after
// timeout.
func waitFor(t testing.TB, timeout time.Duration, f func() error, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", fmt.Sprintf(msg, args...), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
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

// cpu returns the user and system CPU time the process used (Linux only).
func (p *proc) cpu(tb testing.TB) time.Duration {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
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
