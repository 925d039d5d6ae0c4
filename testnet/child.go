package testnet

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Child is a copy of the running test binary that a benchmark starts to
// hold its load (client connections) in a process of its own, so that the
// benchmark's CPU time and memory figures are the server's alone.
//
// The child speaks in lines on its standard output: "ready" once its load
// is in place, then whatever the benchmark expects. A line starting with
// "error" is a failure. It should end when its standard input closes.
// Stderr goes to the benchmark's.
type Child struct {
	cmd   *exec.Cmd
	stdin io.Closer
	out   *bufio.Reader
	once  sync.Once
}

// StartChild runs the test binary again with args, adding env ("K=V") to
// the environment, and waits until it prints "ready". It fails tb if the
// child cannot start, reports an error or ends first. The child is killed
// when the test ends, unless Stop ended it before.
func StartChild(tb testing.TB, args []string, env ...string) *Child {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatalf("child: %v", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatalf("child: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatalf("child: %v", err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("child: %v", err)
	}
	c := &Child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	tb.Cleanup(func() {
		c.once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	})
	c.Expect(tb, "ready")
	return c
}

// Expect reads the child's output up to a line starting with prefix and
// returns that line without its surrounding space. Other lines are
// skipped. It fails tb on a line starting with "error" or at the end of
// the output.
func (c *Child) Expect(tb testing.TB, prefix string) string {
	tb.Helper()
	for {
		line, err := c.out.ReadString('\n')
		if strings.HasPrefix(line, "error") {
			tb.Fatalf("child: %s", strings.TrimSpace(line))
		}
		if err != nil {
			tb.Fatalf("child: waiting for %q: %v", prefix, err)
		}
		if strings.HasPrefix(line, prefix) {
			return strings.TrimSpace(line)
		}
	}
}

// Stop closes the child's standard input and waits for it to end.
func (c *Child) Stop() {
	c.once.Do(func() {
		c.stdin.Close()
		_ = c.cmd.Wait()
	})
}
