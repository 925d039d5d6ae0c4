package sse

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/testnet"
)

// TestLoadgen is not a test: the benchmarks run the test binary again with
// PUSHPULL_SSE_LOADGEN set to hold their subscribers in a process of their
// own, so the server's CPU and memory are measured alone.
//
// Arguments (environment): PUSHPULL_SSE_LOADGEN=addr, LOADGEN_PATH,
// LOADGEN_CONNS, LOADGEN_MSGS (0: idle; wait for stdin to close).
// Output lines: "ready", then "done <p50 ns> <p99 ns> <received>".
func TestLoadgen(t *testing.T) {
	addr := os.Getenv("PUSHPULL_SSE_LOADGEN")
	if addr == "" {
		t.Skip("only run by the benchmarks")
	}
	path := os.Getenv("LOADGEN_PATH")
	conns, _ := strconv.Atoi(os.Getenv("LOADGEN_CONNS"))
	msgs, _ := strconv.Atoi(os.Getenv("LOADGEN_MSGS"))

	var ready, done sync.WaitGroup
	lat := make([][]time.Duration, conns)
	var open []net.Conn
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Println("error", err)
			return
		}
		open = append(open, c)
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n", path)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 200 {
				fmt.Println("error", err, resp)
				ready.Done()
				return
			}
			ready.Done()
			if msgs == 0 {
				return
			}
			lines := bufio.NewReader(resp.Body)
			for len(lat[i]) < msgs {
				line, err := lines.ReadSlice('\n')
				if err != nil {
					return
				}
				if rest, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
					sp := bytes.IndexByte(rest, ' ')
					if sp < 0 {
						continue // not a message: a reset event's data
					}
					ns, _ := strconv.ParseInt(string(rest[:sp]), 10, 64)
					lat[i] = append(lat[i], time.Duration(time.Now().UnixNano()-ns))
				}
			}
		}()
	}
	ready.Wait()
	fmt.Println("ready")
	if msgs == 0 {
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until stdin closes
		for _, c := range open {
			c.Close()
		}
		done.Wait()
		return
	}
	done.Wait()
	all := slices.Concat(lat...)
	fmt.Printf("done %d %d %d\n", testnet.Percentile(all, 50), testnet.Percentile(all, 99), len(all))
	for _, c := range open {
		c.Close()
	}
}
