package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/poll"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/testnet"
	"github.com/pushpull/pushpull/ws"
)

// serve starts the transport's server on a loopback port. pushpull's
// handlers keep their defaults; the topic's history is sized so that no
// resume outlives it.
func (s *server) serve(transport string, history int, interval, writeDelay time.Duration) (string, error) {
	if s.feed != nil {
		return "", errors.New("serving already")
	}
	count := metrics.RecorderFunc(func(e metrics.Event) {
		switch e.Kind {
		case metrics.ConnOpened:
			s.opened.Add(1)
		case metrics.ConnClosed:
			s.closed.Add(1)
			if e.Outcome == metrics.ReasonSlow {
				s.cuts.Add(1)
			}
			s.mu.Lock()
			s.closedBy[e.Outcome]++
			s.mu.Unlock()
		}
	})
	mux := http.NewServeMux()
	var h http.Handler
	wrap := func(l net.Listener) net.Listener { return l }
	switch transport {
	case "sse":
		h = &sse.Handler{Broker: s.broker(history), Metrics: count, WriteDelay: writeDelay}
	case "ws":
		h = &ws.Handler{Broker: s.broker(history), Metrics: count, WriteDelay: writeDelay}
	case "longpoll", "longpoll-listener":
		lh := &longpoll.Handler{Broker: s.broker(history), Metrics: count}
		if transport == "longpoll-listener" {
			wrap = lh.Listener // held requests leave net/http
		}
		h = lh
	case "poll":
		h = &poll.Handler{Broker: s.broker(history), Interval: interval, Metrics: count}
	case "bare-sse", "bare-ws", "bare-longpoll":
		b := newBare(transport, count)
		s.feed, h = b, b
	default:
		return "", fmt.Errorf("unknown transport %q", transport)
	}
	if sh, ok := h.(interface{ Shutdown(context.Context) error }); ok {
		s.shutdown = append(s.shutdown, sh.Shutdown)
	}
	mux.Handle("/", h)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	// Connections are cut, at random, only on the parent's request.
	s.kl = &testnet.KillListener{Listener: l}
	s.hs = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Go(func() { _ = s.hs.Serve(wrap(s.kl)) }) // longpoll-listener: held requests leave net/http
	return l.Addr().String(), nil
}

// broker makes the run's bus and the publisher's way to it.
func (s *server) broker(history int) *bus.Memory {
	m := &bus.Memory{HistorySize: history, HistoryTTL: -1}
	s.feed = busFeed{m}
	return m
}

type busFeed struct{ m *bus.Memory }

func (f busFeed) publish(ctx context.Context, data []byte) error {
	_, err := f.m.Publish(ctx, topic, bus.Message{Type: "load.tick", Data: data})
	return err
}

func (f busFeed) close() { _ = f.m.Close() }
