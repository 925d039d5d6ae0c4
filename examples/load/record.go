package main

import (
	"errors"
	"math"
	"math/bits"
	"strconv"
	"sync/atomic"
	"time"
)

// The payload of message n is the JSON object {"n":n,"at":t,"x":"…"}: its
// sequence number from 1, the publisher's clock in Unix nanoseconds just
// before Publish, and padding up to the size asked. Being JSON it travels
// as it is over every transport, and its fixed start lets a reader find
// both numbers without decoding the whole object.
const (
	payloadHead = `{"n":`
	payloadAt   = `,"at":`
)

// appendPayload appends the payload of message n published at at, padded
// to size bytes when size leaves room for the numbers.
func appendPayload(dst []byte, n int, at int64, size int) []byte {
	start := len(dst)
	dst = append(dst, payloadHead...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, payloadAt...)
	dst = strconv.AppendInt(dst, at, 10)
	const pad = `,"x":""}`
	if fill := size - (len(dst) - start) - len(pad); fill > 0 {
		dst = append(dst, `,"x":"`...)
		for range fill {
			dst = append(dst, 'x')
		}
		return append(dst, `"}`...)
	}
	return append(dst, '}')
}

var errPayload = errors.New("load: not a payload of the load publisher")

// parsePayload returns the sequence number and publication time of a
// payload.
func parsePayload(b []byte) (n int, at int64, err error) {
	rest, ok := cutPrefix(b, payloadHead)
	if !ok {
		return 0, 0, errPayload
	}
	v, rest := leadingInt(rest)
	rest, ok = cutPrefix(rest, payloadAt)
	if !ok || v < 1 {
		return 0, 0, errPayload
	}
	t, rest := leadingInt(rest)
	if len(rest) == 0 || (rest[0] != ',' && rest[0] != '}') {
		return 0, 0, errPayload
	}
	return int(v), t, nil
}

func cutPrefix(b []byte, p string) ([]byte, bool) {
	if len(b) < len(p) || string(b[:len(p)]) != p {
		return b, false
	}
	return b[len(p):], true
}

// leadingInt parses the decimal digits b starts with (at most 19, which
// may overflow only past the year 2262 for nanosecond times).
func leadingInt(b []byte) (int64, []byte) {
	var v int64
	i := 0
	for i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	return v, b[i:]
}

// histogram counts latencies in logarithmic buckets: 16 per power of two
// of microseconds, so a percentile read from it is within about 4 % of the
// exact value. It is updated by one goroutine and read after it ends, or
// merged into another.
type histogram struct {
	counts [64 * 16]uint32
}

func bucketOf(d time.Duration) int {
	us := uint64(max(d, 0) / time.Microsecond)
	if us < 16 {
		return int(us)
	}
	e := bits.Len64(us) - 5 // us >> e is in [16, 32)
	return (e+1)*16 + int(us>>e) - 16
}

// bucketValue is the middle of bucket i.
func bucketValue(i int) time.Duration {
	if i < 16 {
		return time.Duration(i) * time.Microsecond
	}
	e := i/16 - 1
	lo := uint64(16+i%16) << e
	return time.Duration(float64(lo)+float64(uint64(1)<<e)/2) * time.Microsecond
}

func (h *histogram) add(d time.Duration) { h.counts[bucketOf(d)]++ }

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// quantile returns the q-quantile (0 to 1), or 0 when nothing was counted.
func (h *histogram) quantile(q float64) time.Duration {
	var total uint64
	for _, c := range h.counts {
		total += uint64(c)
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			return bucketValue(i)
		}
	}
	return bucketValue(len(h.counts) - 1)
}

// tally is one subscriber's record of the messages it received: which
// (a bit per sequence number), how many twice, and the latencies of those
// published after the warm-up. Record is called by the subscriber's one
// reading goroutine; the counters are read by the progress line while it
// runs.
type tally struct {
	seen     []uint64
	warm     int // messages up to this sequence number are the warm-up's
	lat      histogram
	distinct atomic.Int64
	dups     atomic.Int64
	bad      atomic.Int64
	conns    atomic.Int64 // connections opened (pushpull's streaming clients)
	resumes  atomic.Int64 // connections (or requests) again after one failed or ended
	lastSeq  atomic.Int64 // the highest sequence number received
}

func newTally(n, warm int) *tally {
	return &tally{seen: make([]uint64, n/64+1), warm: warm}
}

// record notes the receipt, at now, of payload b.
func (t *tally) record(b []byte, now time.Time) {
	n, at, err := parsePayload(b)
	if err != nil || n >= len(t.seen)*64 {
		t.bad.Add(1)
		return
	}
	w, bit := n/64, uint64(1)<<(n%64)
	if t.seen[w]&bit != 0 {
		t.dups.Add(1)
		return
	}
	t.seen[w] |= bit
	t.distinct.Add(1)
	if int64(n) > t.lastSeq.Load() {
		t.lastSeq.Store(int64(n))
	}
	if n > t.warm {
		t.lat.add(now.Sub(time.Unix(0, at)))
	}
}
