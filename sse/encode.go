package sse

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/pushpull/pushpull/bus"
)

// ResetEvent is the type of the event a Handler sends, in place of any
// message, when a client's cursor can no longer be served. Its id and data
// carry the topic's current top:
//
//	event: reset
//	id: <top>
//	data: {"top":"<top>"}
//
// Message types may not be "reset".
const ResetEvent = "reset"

// appendMessage appends the wire form of m: its id, its type when set, and
// its data split into data lines at CR, LF and CRLF.
func appendMessage(dst []byte, m *bus.Message) ([]byte, error) {
	if err := checkField("id", m.ID); err != nil {
		return dst, err
	}
	if err := checkField("event", m.Type); err != nil {
		return dst, err
	}
	if m.Type == ResetEvent {
		return dst, fmt.Errorf("%w: the type %q is reserved", ErrEncode, ResetEvent)
	}
	dst = append(dst, "id: "...)
	dst = append(dst, m.ID...)
	dst = append(dst, '\n')
	if m.Type != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, m.Type...)
		dst = append(dst, '\n')
	}
	return appendData(dst, m.Data), nil
}

// appendData appends data as data lines and the blank line that ends the
// event. Empty data is one empty data line, so the event is still
// dispatched.
func appendData(dst, data []byte) []byte {
	for {
		i := 0
		for i < len(data) && data[i] != '\n' && data[i] != '\r' {
			i++
		}
		dst = append(dst, "data: "...)
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		if i == len(data) {
			break
		}
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(dst, '\n')
}

func checkField(name, v string) error {
	if i := strings.IndexAny(v, "\r\n\x00"); i >= 0 {
		return fmt.Errorf("%w: %s has a CR, LF or NUL at byte %d", ErrEncode, name, i)
	}
	return nil
}

// appendReset appends the reset event for top.
func appendReset(dst []byte, top string) []byte {
	dst = append(dst, "event: reset\nid: "...)
	dst = append(dst, top...)
	dst = append(dst, "\ndata: {\"top\":\""...)
	dst = append(dst, top...)
	return append(dst, "\"}\n\n"...)
}

// An encoding is the wire form of one message, shared by every stream.
// Its encoder fills b and err, sets done and closes ready; streams that
// find it before then wait on ready.
type encoding struct {
	topic, id string
	done      atomic.Bool
	ready     chan struct{}
	b         []byte
	err       error
}

func (e *encoding) wait() ([]byte, error) {
	if !e.done.Load() {
		<-e.ready
	}
	return e.b, e.err
}

// cacheSlots is the number of encodings kept; a power of two.
const cacheSlots = 1024

// An encCache encodes each message once for all the streams of a Handler.
// It is a direct-mapped cache keyed by topic and ID: streams reading the
// same message look it up in the same slot; the first one installs a
// pending encoding and fills it, the others wait for it (a channel close
// wakes them all at once, with no lock convoy) and share its bytes. A
// message evicted by a later one that maps to the same slot (a stream far
// behind) is encoded again. Consecutive messages of a topic go to
// consecutive slots, so they never evict each other within cacheSlots
// messages.
type encCache struct {
	slots   [cacheSlots]atomic.Pointer[encoding]
	encodes atomic.Int64 // for tests: how many messages were encoded
}

func (c *encCache) get(m *bus.Message) ([]byte, error) {
	s := &c.slots[slot(m.Topic, m.ID)]
	for {
		e := s.Load()
		if e != nil && e.id == m.ID && e.topic == m.Topic {
			return e.wait()
		}
		ne := &encoding{topic: m.Topic, id: m.ID, ready: make(chan struct{})}
		if !s.CompareAndSwap(e, ne) {
			continue // another stream got there first: look again
		}
		c.encodes.Add(1)
		ne.b, ne.err = appendMessage(make([]byte, 0, 24+len(m.ID)+len(m.Type)+len(m.Data)), m)
		ne.done.Store(true)
		close(ne.ready)
		return ne.b, ne.err
	}
}

// slot returns the cache slot of a message: a hash of the topic and the ID's
// epoch, plus the ID's offset.
func slot(topic, id string) int {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(topic); i++ {
		h = (h ^ uint32(topic[i])) * 16777619
	}
	var off uint32
	end := len(id)
	for end > 0 && id[end-1] >= '0' && id[end-1] <= '9' {
		end--
	}
	for i := end; i < len(id); i++ {
		off = off*10 + uint32(id[i]-'0')
	}
	for i := 0; i < end; i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return int((h + off) & (cacheSlots - 1))
}
