package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/testnet"
	"github.com/pushpull/pushpull/ws"
)

// The benchmarks' clients run in a child process (this test binary again),
// so the parent's CPU time and memory are the server's alone.
const loadClientEnv = "PUSHPULL_WS_LOADCLIENT"

// runLoadClient opens CONNS connections to URL (subscribing to topic "t"
// when PROTO is "pushpull"), prints "ready", then, when EXPECT > 0, reads
// EXPECT messages on every connection, each carrying its send time in
// nanoseconds, and prints "done <p50 ns> <p99 ns>". With EXPECT == 0 it
// holds the connections idle until stdin closes.
func runLoadClient() int {
	url := os.Getenv("URL")
	n, _ := strconv.Atoi(os.Getenv("CONNS"))
	expect, _ := strconv.Atoi(os.Getenv("EXPECT"))
	pushpull := os.Getenv("PROTO") == "pushpull"
	ctx := context.Background()

	conns := make([]*websocket.Conn, n)
	var dialErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			opts := &websocket.DialOptions{}
			if pushpull {
				opts.Subprotocols = []string{ws.Subprotocol}
			}
			c, _, err := websocket.Dial(ctx, url, opts)
			if err == nil && pushpull {
				err = c.Write(ctx, websocket.MessageText, []byte(`{"op":"subscribe","topic":"t","ref":"s"}`))
				if err == nil {
					_, _, err = c.Read(ctx) // the ack
				}
			}
			if err != nil {
				mu.Lock()
				dialErr = err
				mu.Unlock()
				return
			}
			c.SetReadLimit(-1)
			conns[i] = c
		}()
	}
	wg.Wait()
	if dialErr != nil {
		fmt.Fprintln(os.Stderr, "dial:", dialErr)
		return 1
	}
	fmt.Println("ready")
	if expect == 0 {
		bufio.NewReader(os.Stdin).ReadString('\n')
		return 0
	}
	lat := make([][]time.Duration, n)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, expect)
			for range expect {
				_, p, err := c.Read(ctx)
				if err != nil {
					fmt.Fprintln(os.Stderr, "read:", err)
					os.Exit(1)
				}
				now := time.Now().UnixNano()
				if pushpull {
					// Cheaper than decoding the JSON, so that the client
					// process does the same work for every server.
					if i := bytes.Index(p, []byte(`"data":"`)); i >= 0 {
						p = p[i+8:]
						if j := bytes.IndexByte(p, '"'); j >= 0 {
							p = p[:j]
						}
					}
				}
				sent, _ := strconv.ParseInt(string(p), 10, 64)
				l = append(l, time.Duration(now-sent))
			}
			lat[i] = l
		}()
	}
	wg.Wait()
	all := slices.Concat(lat...)
	fmt.Printf("done %d %d\n", testnet.Percentile(all, 50), testnet.Percentile(all, 99))
	for _, c := range conns {
		c.CloseNow()
	}
	return 0
}
