package measure_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/pushpull/pushpull/examples/internal/measure"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

const echoEnv = "SUBPROC_TEST_ECHO"

// echo answers each line with the line in capitals, and ends with its
// input.
func echo(in io.Reader, out io.Writer) int {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		fmt.Fprintln(out, strings.ToUpper(sc.Text()))
	}
	return 0
}

func TestMain(m *testing.M) {
	measure.ServeIfChild(echoEnv, echo)
	goleak.VerifyTestMain(m)
}

// TestStart starts the test binary again as a child that echoes, talks to
// it and stops it.
func TestStart(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	p, err := measure.Start([]string{exe}, echoEnv+"=1")
	require.NoError(t, err)
	defer p.Stop()
	r := bufio.NewReader(p.Stdout)
	for _, w := range []string{"ping", "pong"} {
		_, err := fmt.Fprintln(p.Stdin, w)
		require.NoError(t, err)
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, strings.ToUpper(w)+"\n", line)
	}
	p.Stop()
	p.Stop() // a second Stop does nothing more
}

func TestStartMissingProgram(t *testing.T) {
	_, err := measure.Start([]string{"/nonexistent/program"})
	assert.Error(t, err)
}

// The test binary, started again with echoEnv set, echoes in capitals.
func ExampleStart() {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	p, err := measure.Start([]string{exe}, echoEnv+"=1")
	if err != nil {
		panic(err)
	}
	defer p.Stop()
	fmt.Fprintln(p.Stdin, "hello, child")
	line, _ := bufio.NewReader(p.Stdout).ReadString('\n')
	fmt.Print(line)
	// Output: HELLO, CHILD
}
