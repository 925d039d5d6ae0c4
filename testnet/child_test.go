package testnet

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const childEnv = "PUSHPULL_TESTNET_CHILD"

// runChild is the child's side: "ok" says ready, some noise and a result,
// then waits for its input to close; "short" says ready and ends; "error"
// fails; "quit" ends at once; "listen:PORT" accepts connections on the
// loopback port until it is killed (a server for TestProc).
func runChild(mode string) int {
	switch mode {
	case "ok":
		fmt.Println("starting")
		fmt.Println("ready")
		fmt.Println("noise")
		fmt.Println("done 42")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		fmt.Println("stopped") // after Stop, nobody reads this
	case "short":
		fmt.Println("ready")
	case "error":
		fmt.Println("error cannot dial")
	default:
		if port, ok := strings.CutPrefix(mode, "listen:"); ok {
			return listenChild(port)
		}
	}
	return 0
}

// fatalTB records the first failure of the helper under test and ends its
// goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	failed chan string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.failed <- fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failure runs fn with a fatalTB and returns its failure message, or ""
// when it did not fail.
func failure(t *testing.T, fn func(tb testing.TB)) string {
	tb := &fatalTB{TB: t, failed: make(chan string, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(tb)
	}()
	<-done
	select {
	case msg := <-tb.failed:
		return msg
	default:
		return ""
	}
}

func TestChild(t *testing.T) {
	c := StartChild(t, []string{"-test.run=^$"}, childEnv+"=ok")
	assert.Equal(t, "done 42", c.Expect(t, "done"))
	c.Stop()
	c.Stop() // twice is fine
}

func TestChildFailures(t *testing.T) {
	for _, tc := range []struct {
		name, mode, want string
	}{
		{name: "error line", mode: "error", want: "child: error cannot dial"},
		{name: "ends before ready", mode: "quit", want: `child: waiting for "ready": EOF`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := failure(t, func(tb testing.TB) {
				StartChild(tb, []string{"-test.run=^$"}, childEnv+"="+tc.mode)
			})
			assert.Equal(t, tc.want, msg)
		})
	}
	c := StartChild(t, []string{"-test.run=^$"}, childEnv+"=short")
	msg := failure(t, func(tb testing.TB) { c.Expect(tb, "done") })
	assert.Equal(t, `child: waiting for "done": EOF`, msg)
	c.Stop()
}

func TestCPUTime(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU time is only checked on Linux")
	}
	t0 := CPUTime()
	require.Positive(t, t0, "starting the test used CPU time")
	for deadline := time.Now().Add(5 * time.Second); CPUTime() == t0 && time.Now().Before(deadline); {
		runtime.Gosched() // busy: spend CPU time
	}
	assert.Greater(t, CPUTime(), t0, "a busy loop uses CPU time")
}

// listenChild accepts and closes connections on the loopback port until it
// is killed.
func listenChild(port string) int {
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("listening on", port)
	for {
		c, err := l.Accept()
		if err != nil {
			return 1
		}
		_ = c.Close()
	}
}
