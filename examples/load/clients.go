package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/poll"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/ws"
)

// fleet is the subscribers of a run, each with a connection (an
// http.Transport) of its own, as separate machines would have.
type fleet struct {
	tallies []*tally
	cancel  context.CancelFunc
	once    sync.Once
	wg      sync.WaitGroup
	closers []func()
	mu      sync.Mutex
	errs    []error
}

// dialers is how many subscribers connect at once.
const dialers = 64

// startFleet connects one subscriber per tally to the transport's server
// at addr, from the topic's first message. It returns once every one has
// connected (for the pushpull clients, once Subscribe returned).
func startFleet(ctx context.Context, transport, addr string, pollEvery time.Duration, tallies []*tally) (*fleet, error) {
	ctx, cancel := context.WithCancel(ctx)
	f := &fleet{tallies: tallies, cancel: cancel}
	base := "http://" + addr + "/"
	sem := make(chan struct{}, dialers)
	var starting sync.WaitGroup
	for i, t := range tallies {
		sem <- struct{}{}
		starting.Go(func() {
			defer func() { <-sem }()
			tr := &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute}
			hc := &http.Client{Transport: &failCounter{rt: tr, t: t}}
			f.onClose(tr.CloseIdleConnections)
			if err := f.start(ctx, transport, base, hc, pollEvery, t); err != nil {
				f.fail(fmt.Errorf("subscriber %d: %w", i, err))
			}
		})
	}
	starting.Wait()
	if err := f.err(); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

func (f *fleet) start(ctx context.Context, transport, base string, hc *http.Client, pollEvery time.Duration, t *tally) error {
	opened := metrics.RecorderFunc(func(e metrics.Event) {
		// A connection after the first is a resume.
		if e.Kind == metrics.ConnOpened && t.conns.Add(1) > 1 {
			t.resumes.Add(1)
		}
	})
	var sub bus.Subscription
	var err error
	switch transport {
	case "sse":
		c := &sse.Client{URL: base, HTTPClient: hc, Metrics: opened}
		sub, err = c.Subscribe(ctx, topic, bus.Oldest)
	case "ws":
		c := ws.NewClient(base)
		c.HTTPClient, c.Metrics = hc, opened
		if err = c.Connect(ctx); err != nil {
			return err
		}
		f.onClose(func() { _ = c.Close() })
		sub, err = c.Subscribe(ctx, topic, bus.Oldest)
	case "longpoll":
		c := &longpoll.Client{URL: base, HTTPClient: hc}
		sub, err = c.Subscribe(ctx, topic, bus.Oldest)
	case "poll":
		c := &poll.Client{URL: base, HTTPClient: hc, Interval: pollEvery}
		sub, err = c.Subscribe(ctx, topic, bus.Oldest)
	case "bare-sse", "bare-ws", "bare-longpoll":
		f.wg.Go(func() { readBare(ctx, transport, base, hc, t) })
		return nil
	default:
		return fmt.Errorf("unknown transport %q", transport)
	}
	if err != nil {
		return err
	}
	f.onClose(func() { _ = sub.Close() })
	f.wg.Go(func() {
		for m := range sub.C() {
			t.record(m.Data, time.Now())
		}
		if err := sub.Err(); err != nil && ctx.Err() == nil {
			f.fail(err)
		}
	})
	return nil
}

func (f *fleet) onClose(fn func()) {
	f.mu.Lock()
	f.closers = append(f.closers, fn)
	f.mu.Unlock()
}

func (f *fleet) fail(err error) {
	f.mu.Lock()
	f.errs = append(f.errs, err)
	f.mu.Unlock()
}

// err returns the subscribers' errors so far, at most three of them.
func (f *fleet) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) > 3 {
		return errors.Join(append(f.errs[:3:3], fmt.Errorf("and %d more", len(f.errs)-3))...)
	}
	return errors.Join(f.errs...)
}

// close stops every subscriber and waits for them.
func (f *fleet) close() {
	f.once.Do(func() {
		f.cancel()
		f.mu.Lock()
		closers := f.closers
		f.closers = nil
		f.mu.Unlock()
		// Closing a client can wait for its connection's closing
		// handshake: close them side by side.
		sem := make(chan struct{}, dialers)
		var closing sync.WaitGroup
		for _, fn := range closers {
			sem <- struct{}{}
			closing.Go(func() {
				defer func() { <-sem }()
				fn()
			})
		}
		closing.Wait()
		f.wg.Wait()
	})
}

// failCounter counts, as resumes, the requests of a polling client that
// failed (no answer, or a 5xx): the client sends the next from its cursor.
type failCounter struct {
	rt http.RoundTripper
	t  *tally
}

func (fc *failCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := fc.rt.RoundTrip(r)
	if (err != nil || resp.StatusCode >= 500) && r.Context().Err() == nil {
		fc.t.resumes.Add(1)
	}
	return resp, err
}

// bareRetry is how long a bare reader waits before it connects again.
const bareRetry = 100 * time.Millisecond

// readBare reads a bare server until ctx ends, connecting again after any
// failure from the last message it received.
func readBare(ctx context.Context, transport, base string, hc *http.Client, t *tally) {
	read := map[string]func(context.Context, string, *http.Client, *tally, *int) error{
		"bare-sse": readBareSSE, "bare-ws": readBareWS, "bare-longpoll": readBareLongPoll,
	}[transport]
	cursor := 0
	for ctx.Err() == nil {
		if err := read(ctx, base, hc, t, &cursor); err != nil && ctx.Err() == nil {
			t.resumes.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(bareRetry):
			}
		}
	}
}

// readBareSSE reads one stream; it returns nil only when the stream ended
// cleanly.
func readBareSSE(ctx context.Context, base string, hc *http.Client, t *tally, cursor *int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *cursor > 0 {
		req.Header.Set("Last-Event-ID", strconv.Itoa(*cursor))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	br := bufio.NewReaderSize(resp.Body, 8<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("stream ended")
			}
			return err
		}
		if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			deliverBare(bytes.TrimRight(data, "\r\n"), t, cursor)
		}
	}
}

func readBareWS(ctx context.Context, base string, hc *http.Client, t *tally, cursor *int) error {
	u := strings.Replace(base, "http://", "ws://", 1) + "?after=" + strconv.Itoa(*cursor)
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if data, ok := envelopeData(b); ok {
			deliverBare(data, t, cursor)
		}
	}
}

func readBareLongPoll(ctx context.Context, base string, hc *http.Client, t *tally, cursor *int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"?after="+strconv.Itoa(*cursor), nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	for {
		data, ok := envelopeData(b)
		if !ok {
			return nil
		}
		deliverBare(data, t, cursor)
		b = b[bytes.Index(b, data)+len(data):]
	}
}

// envelopeData returns the first payload of a bare server's JSON in b: the
// object after the first "data": up to its closing brace (payloads hold no
// nested object).
func envelopeData(b []byte) ([]byte, bool) {
	_, rest, ok := bytes.Cut(b, []byte(`"data":`))
	if !ok {
		return nil, false
	}
	end := bytes.IndexByte(rest, '}')
	if end < 0 {
		return nil, false
	}
	return rest[:end+1], true
}

// deliverBare records a payload and moves the cursor to its sequence
// number, which is its ID on the bare servers.
func deliverBare(data []byte, t *tally, cursor *int) {
	t.record(data, time.Now())
	if n, _, err := parsePayload(data); err == nil {
		*cursor = max(*cursor, n)
	}
}
