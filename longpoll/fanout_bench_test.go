package longpoll_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/testnet"
)

// BenchmarkFanout measures the server's CPU time per delivered message
// with 1,000 long-polling clients held by a second process (the test
// binary run again as TestFanoutLoadgen: one keep-alive connection per
// client, raw HTTP/1.1, each re-requesting at once after every answer)
// while one topic gets 100 messages per second of ~110 bytes for 3
// seconds. It also reports the CPU time per answer, the messages per
// answer (the busier the server, the more each answer carries) and the
// fraction of messages delivered. Run each case in a fresh process with -benchtime=1x.
func BenchmarkFanout(b *testing.B) {
	const (
		subs  = 1000
		msgs  = 300
		every = 10 * time.Millisecond
	)
	for _, kind := range []string{"longpoll", "longpoll-listener", "bare"} {
		b.Run("server="+kind, func(b *testing.B) {
			for range b.N {
				s := newBenchServer(b, kind)
				defer s.close()
				lg := testnet.StartChild(b, []string{"-test.run=^TestFanoutLoadgen$", "-test.v=false"},
					"PUSHPULL_LONGPOLL_FANOUT="+s.addr, "LOADGEN_PATH=/?topic=bench&after="+s.top,
					"LOADGEN_CONNS="+strconv.Itoa(subs), "LOADGEN_MSGS="+strconv.Itoa(msgs))
				for s.held() < subs {
					time.Sleep(10 * time.Millisecond)
				}
				pad := strings.Repeat("x", 100)
				cpu0 := testnet.CPUTime()
				tick := time.NewTicker(every)
				for i := range msgs {
					s.publish(fmt.Appendf(nil, "%d %s", i, pad))
					<-tick.C
				}
				tick.Stop()
				res := strings.Fields(lg.Expect(b, "done"))
				cpu := testnet.CPUTime() - cpu0
				got, _ := strconv.ParseFloat(res[1], 64)
				answers, _ := strconv.ParseFloat(res[2], 64)
				b.ReportMetric(float64(cpu.Nanoseconds())/got, "cpu-ns/delivery")
				b.ReportMetric(float64(cpu.Nanoseconds())/answers, "cpu-ns/answer")
				b.ReportMetric(got/answers, "msgs/answer")
				b.ReportMetric(got/float64(subs*msgs), "delivered-fraction")
				lg.Stop()
			}
		})
	}
}

// TestFanoutLoadgen is the client process of BenchmarkFanout: LOADGEN_CONNS
// clients long-poll LOADGEN_PATH (from its cursor on) until each has
// received LOADGEN_MSGS messages, then it prints "done <messages>
// <answers>".
func TestFanoutLoadgen(t *testing.T) {
	addr := os.Getenv("PUSHPULL_LONGPOLL_FANOUT")
	if addr == "" {
		t.Skip("only run by the benchmarks")
	}
	conns, _ := strconv.Atoi(os.Getenv("LOADGEN_CONNS"))
	msgs, _ := strconv.Atoi(os.Getenv("LOADGEN_MSGS"))
	path, cursor, _ := strings.Cut(os.Getenv("LOADGEN_PATH"), "&after=")
	var got, answers atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Println("error", err)
			return
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReader(c)
			cur := cursor
			for n := 0; n < msgs; {
				if _, err := fmt.Fprintf(c, "GET %s&after=%s HTTP/1.1\r\nHost: bench\r\n\r\n", path, cur); err != nil {
					fmt.Println("error", err)
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					fmt.Println("error", err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != http.StatusOK {
					fmt.Println("error", resp.StatusCode, err)
					return
				}
				k := bytes.Count(body, []byte(`"id":"`))
				n += k
				got.Add(int64(k))
				answers.Add(1)
				i := bytes.LastIndex(body, []byte(`"cursor":"`))
				rest := body[i+len(`"cursor":"`):]
				cur = string(rest[:bytes.IndexByte(rest, '"')])
				if resp.Close {
					c.Close()
					if c, err = net.Dial("tcp", addr); err != nil {
						fmt.Println("error", err)
						return
					}
					br = bufio.NewReader(c)
				}
			}
		}()
	}
	fmt.Println("ready")
	wg.Wait()
	fmt.Println("done", got.Load(), answers.Load())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}
