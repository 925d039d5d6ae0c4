package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/poll"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/ws"
)

// sink is one client's record of what it received.
type sink struct {
	mu       sync.Mutex
	seen     []uint16 // receipts per sequence number
	lat      []time.Duration
	distinct int
	dups     int
	bad      int
	total    *atomic.Int64 // distinct receipts of every client
}

func newSink(n int, total *atomic.Int64) *sink {
	return &sink{seen: make([]uint16, n+1), lat: make([]time.Duration, 0, n), total: total}
}

// deliver records the receipt, now, of a message's data.
func (s *sink) deliver(data []byte, now time.Time) {
	var t tick
	err := json.Unmarshal(data, &t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || t.Seq < 1 || t.Seq >= len(s.seen) {
		s.bad++
		return
	}
	s.seen[t.Seq]++
	if s.seen[t.Seq] > 1 {
		s.dups++
		return
	}
	s.distinct++
	s.total.Add(1)
	s.lat = append(s.lat, now.Sub(time.Unix(0, t.T)))
}

// clients are the consumers of one pattern's run.
type clients struct {
	closers []func()
	wg      sync.WaitGroup
	mu      sync.Mutex
	err     error
	once    sync.Once
	closing atomic.Bool

	// For webhooks: the receivers' server, where the wire is counted.
	listener *wireListener
	count    *counting
	hookURL  string
	secret   string
}

// fail records the first error of a consumer.
func (c *clients) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

func (c *clients) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// close stops every consumer and waits for them.
func (c *clients) close() {
	c.once.Do(func() {
		c.closing.Store(true)
		for i := len(c.closers) - 1; i >= 0; i-- {
			c.closers[i]()
		}
		c.wg.Wait()
	})
}

// subscribe starts one client per sink on the pattern's handler at base,
// each with a connection of its own (as separate machines would have), all
// from the topic's first message.
func subscribe(ctx context.Context, pattern, base string, cfg Config, sinks []*sink) (*clients, error) {
	cl := &clients{}
	subs := make([]bus.Subscription, len(sinks))
	errs := make([]error, len(sinks))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range sinks {
		tr := &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute}
		hc := &http.Client{Transport: tr}
		mu.Lock()
		cl.closers = append(cl.closers, tr.CloseIdleConnections)
		mu.Unlock()
		wg.Go(func() {
			var sub bus.Subscription
			var err error
			switch pattern {
			case "poll":
				c := &poll.Client{URL: base + "/poll/{topic}", HTTPClient: hc, Interval: cfg.PollInterval}
				sub, err = c.Subscribe(ctx, topic, bus.Oldest)
			case "longpoll":
				c := &longpoll.Client{URL: base + "/longpoll/{topic}", HTTPClient: hc}
				sub, err = c.Subscribe(ctx, topic, bus.Oldest)
			case "sse":
				c := &sse.Client{URL: base + "/sse/{topic}", HTTPClient: hc}
				sub, err = c.Subscribe(ctx, topic, bus.Oldest)
			case "ws":
				c := ws.NewClient(base + "/ws")
				c.HTTPClient = hc
				if err = c.Connect(ctx); err != nil {
					break
				}
				mu.Lock()
				cl.closers = append(cl.closers, func() { _ = c.Close() })
				mu.Unlock()
				sub, err = c.Subscribe(ctx, topic, bus.Oldest)
			default:
				err = fmt.Errorf("unknown pattern %q", pattern)
			}
			subs[i], errs[i] = sub, err
		})
	}
	wg.Wait()
	for i, sub := range subs {
		if sub == nil {
			continue
		}
		cl.closers = append(cl.closers, func() { _ = sub.Close() })
		cl.wg.Go(func() {
			for m := range sub.C() {
				sinks[i].deliver(m.Data, time.Now())
			}
			if err := sub.Err(); err != nil && !cl.closing.Load() {
				cl.fail(fmt.Errorf("client %d: %w", i, err))
			}
		})
	}
	if err := errors.Join(errs...); err != nil {
		cl.close()
		return nil, err
	}
	return cl, nil
}

// startReceivers serves one webhook.Receiver per sink on a loopback port:
// each client is a service of its own, with its own idempotency memory.
// Duplicates the Receivers catch (a retry after a cut whose first attempt
// was handled) never reach the sinks; the sinks count any that get through.
func startReceivers(sinks []*sink) (*clients, error) {
	secret, err := webhook.GenerateSecret()
	if err != nil {
		return nil, err
	}
	receivers := make([]*webhook.Receiver, len(sinks))
	for i, s := range sinks {
		receivers[i] = &webhook.Receiver{
			Keys: webhook.Secrets(secret),
			Handler: func(_ context.Context, e *webhook.Event) error {
				now := time.Now()
				p, err := webhook.ParsePayload(e.Body)
				if err != nil {
					return err
				}
				s.deliver(p.Data, now)
				return nil
			},
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/{i}", func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(r.PathValue("i"))
		if err != nil || i < 0 || i >= len(receivers) {
			http.NotFound(w, r)
			return
		}
		receivers[i].ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cl := &clients{listener: newWireListener(l), secret: secret.Encode()}
	cl.count = &counting{h: mux}
	cl.hookURL = "http://" + l.Addr().String() + "/hooks/{i}"
	srv := &http.Server{Handler: cl.count, ReadHeaderTimeout: 10 * time.Second}
	cl.wg.Go(func() { _ = srv.Serve(cl.listener) })
	cl.closers = append(cl.closers, func() { _ = srv.Close() })
	return cl, nil
}
