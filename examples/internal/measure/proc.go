package measure

import (
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// ServeIfChild runs serve on the standard input and output and exits with
// its status when env is set in the environment; otherwise it returns at
// once.
func ServeIfChild(env string, serve func(in io.Reader, out io.Writer) int) {
	if os.Getenv(env) != "" {
		os.Exit(serve(os.Stdin, os.Stdout))
	}
}

// StopTimeout is how long Stop waits for a child to end before it kills it.
const StopTimeout = 10 * time.Second

// Proc is a running child process.
type Proc struct {
	// Stdin is the child's standard input; closing it asks the child to
	// end. Stdout is its standard output.
	Stdin  io.WriteCloser
	Stdout io.Reader
	cmd    *exec.Cmd
	once   sync.Once
}

// Start runs argv (the program, then its arguments) with env ("K=V") added
// to the environment and its standard error going to this process's. The
// program is usually this one (os.Executable), possibly behind a launcher
// such as taskset.
func Start(argv []string, env ...string) (*Proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &Proc{Stdin: in, Stdout: out, cmd: cmd}, nil
}

// Stop closes the child's standard input and waits for it to end, killing
// it after StopTimeout. A second Stop does nothing.
func (p *Proc) Stop() {
	p.once.Do(func() {
		p.Stdin.Close()
		done := make(chan struct{})
		go func() {
			_ = p.cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(StopTimeout):
			_ = p.cmd.Process.Kill()
			<-done
		}
	})
}
