package sse

import (
	"fmt"
	"strings"

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

// encodeEvent is the cache's encoder of events.
func encodeEvent(m *bus.Message) ([]byte, error) {
	return appendMessage(make([]byte, 0, 24+len(m.ID)+len(m.Type)+len(m.Data)), m)
}
