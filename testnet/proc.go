package testnet

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireServicesEnv is the environment variable that turns a missing
// server or program into a test failure instead of a skip, as in CI.
const RequireServicesEnv = "PUSHPULL_REQUIRE_SERVICES"

// Binary returns the path of the program name. Without it, tb is skipped,
// or failed when RequireServicesEnv is "1".
func Binary(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(RequireServicesEnv) == "1" {
			tb.Fatalf("%s not found: %v", name, err)
		}
		tb.Skipf("%s not found (install it to run this test): %v", name, err)
	}
	return path
}

// FreePorts returns n loopback ports that were free a moment ago. All are
// held open together while they are chosen, so they differ.
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("free port: %v", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// WaitFor calls f every 50 ms until it returns nil. When timeout passes
// first, it fails tb with the message msg (formatted with args) and f's
// last error.
func WaitFor(tb testing.TB, timeout time.Duration, f func() error, msg string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: %v", fmt.Sprintf(msg, args...), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A Proc is a server process of a test's own — a Redis or NATS node of a
// cluster the test builds on loopback ports, say — that the test can kill
// as a crash would (SIGKILL) and start again. It is killed when the test
// ends, and what it printed is logged when the test fails.
type Proc struct {
	// Path and Args are the program and its arguments. Args may be changed
	// between Kill and Start, to start the process again differently.
	Path string
	Args []string
	// Port is the process's client port.
	Port int
	// Ready reports whether a started process serves yet; Start calls it
	// until it returns nil, for up to StartTimeout. Nil means a TCP
	// connection to Port is accepted.
	Ready func(ctx context.Context) error
	// StartTimeout bounds the wait for Ready. Zero means ten seconds.
	StartTimeout time.Duration

	tb   testing.TB
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  bytes.Buffer
}

// StartProc starts p, whose Path, Args, Port and Ready are set, and waits
// until it is ready. p is killed when tb ends.
func StartProc(tb testing.TB, p *Proc) *Proc {
	tb.Helper()
	p.tb = tb
	tb.Cleanup(func() {
		p.Kill()
		if tb.Failed() {
			tb.Logf("output of %s %s:\n%s", p.Path, strings.Join(p.Args, " "), p.Output())
		}
	})
	p.Start()
	return p
}

// Addr returns the client address, 127.0.0.1:Port.
func (p *Proc) Addr() string { return fmt.Sprintf("127.0.0.1:%d", p.Port) }

// Output returns what the process printed on its standard output and
// error, over all its starts.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Write appends b to the process's output; it is the process's stdout and
// stderr.
func (p *Proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Start starts the process (again, after Kill) and waits until it is
// ready, failing the test if it is not within StartTimeout.
func (p *Proc) Start() {
	p.tb.Helper()
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		p.tb.Fatalf("starting %s: %v", p.Path, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	ready := p.Ready
	if ready == nil {
		ready = func(ctx context.Context) error {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.Addr())
			if err == nil {
				_ = c.Close()
			}
			return err
		}
	}
	timeout := p.StartTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	WaitFor(p.tb, timeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		return ready(ctx)
	}, "%s on port %d did not start", p.Path, p.Port)
}

// Kill kills the process with SIGKILL, as a crash, and waits until it has
// ended. Killing a process that is not running does nothing.
func (p *Proc) Kill() {
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

// Alive reports whether the process was started and not killed since.
func (p *Proc) Alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// Pid returns the process ID of the running process, or 0 when it is not
// running.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}
