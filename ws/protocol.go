package ws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/pushpull/pushpull/bus"
)

// Subprotocol is the WebSocket subprotocol name of the envelope protocol
// described in the package documentation. A later incompatible version will
// get a new name, so servers can speak several at once.
const Subprotocol = "pushpull.v1"

// Frame operations ("op" field) of the envelope protocol.
const (
	opSubscribe   = "subscribe"
	opUnsubscribe = "unsubscribe"
	opPublish     = "publish"
	opMessage     = "message"
	opAck         = "ack"
	opError       = "error"
	opReset       = "reset"
)

// maxRefLen bounds the ref a client may attach to a request.
const maxRefLen = 128

// envelope is one frame of the protocol. Every field but Op is optional on
// the wire; which ones a frame carries depends on Op (see doc.go).
type envelope struct {
	Op      string            `json:"op"`
	Ref     string            `json:"ref,omitempty"`
	Topic   string            `json:"topic,omitempty"`
	After   string            `json:"after,omitempty"`
	ID      string            `json:"id,omitempty"`
	Type    string            `json:"type,omitempty"`
	Data    string            `json:"data,omitempty"`
	Data64  []byte            `json:"data64,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	Time    string            `json:"time,omitempty"`
	Top     string            `json:"top,omitempty"`
	Code    string            `json:"code,omitempty"`
	Message string            `json:"message,omitempty"`
}

// errEnvelope is the cause of every decoding failure.
var errEnvelope = errors.New("ws: malformed frame")

// setData stores p in e: as a JSON string when it is valid UTF-8, else
// base64 in data64. Both round-trip byte for byte.
func (e *envelope) setData(p []byte) {
	if utf8.Valid(p) {
		e.Data = string(p)
		return
	}
	e.Data64 = p
}

// data returns the payload of e.
func (e *envelope) data() []byte {
	if e.Data64 != nil {
		return e.Data64
	}
	if e.Data == "" {
		return nil
	}
	return []byte(e.Data)
}

// decodeEnvelope parses one frame and checks the fields its op needs. The
// errors wrap errEnvelope, bus.ErrInvalidTopic, bus.ErrInvalidCursor or
// bus.ErrInvalidMessage.
//
// The envelope never refers to p: the caller may reuse p.
func decodeEnvelope(p []byte) (envelope, error) {
	e, ok := decodeEnvelopeFast(p)
	if !ok {
		var je envelope // a variable of its own: Unmarshal moves it to the heap
		if err := json.Unmarshal(p, &je); err != nil {
			return envelope{}, fmt.Errorf("%w: %v", errEnvelope, err)
		}
		e = je
	}
	if e.Data != "" && e.Data64 != nil {
		return e, fmt.Errorf("%w: both data and data64", errEnvelope)
	}
	if len(e.Ref) > maxRefLen {
		return e, fmt.Errorf("%w: ref longer than %d bytes", errEnvelope, maxRefLen)
	}
	switch e.Op {
	case opSubscribe, opUnsubscribe, opPublish, opMessage, opReset:
		if err := bus.ValidateTopic(e.Topic); err != nil {
			return e, err
		}
	case opAck, opError:
	case "":
		return e, fmt.Errorf("%w: no op", errEnvelope)
	default:
		return e, fmt.Errorf("%w: unknown op %q", errEnvelope, truncate(e.Op, 32))
	}
	switch e.Op {
	case opSubscribe:
		if e.After == bus.Latest {
			break
		}
		if _, err := bus.ParseCursor(e.Topic, e.After); err != nil {
			return e, err
		}
	case opPublish, opMessage:
		if err := bus.ValidateType(e.Type); err != nil {
			return e, err
		}
	}
	return e, nil
}

// message converts a message frame back to a bus.Message.
func (e *envelope) message() bus.Message {
	m := bus.Message{Topic: e.Topic, ID: e.ID, Type: e.Type, Data: e.data(), Meta: e.Meta}
	if e.Time != "" {
		if t, err := time.Parse(time.RFC3339Nano, e.Time); err == nil {
			m.Time = t
		}
	}
	return m
}

// encodeMessage returns the message frame of m.
func encodeMessage(m bus.Message) []byte {
	e := envelope{Op: opMessage, Topic: m.Topic, ID: m.ID, Type: m.Type, Meta: m.Meta}
	if !m.Time.IsZero() {
		e.Time = m.Time.UTC().Format(time.RFC3339Nano)
	}
	e.setData(m.Data)
	return encode(&e)
}

func encodePublish(ref, topic string, m bus.Message) []byte {
	e := envelope{Op: opPublish, Ref: ref, Topic: topic, Type: m.Type, Meta: m.Meta}
	e.setData(m.Data)
	return encode(&e)
}

func encode(e *envelope) []byte {
	p, err := json.Marshal(e)
	if err != nil {
		// Only strings, bytes and a string map: Marshal cannot fail.
		panic("ws: encode frame: " + err.Error())
	}
	return p
}

// batchSep separates the envelopes of a batch frame. Neither encoding/json
// nor JSON.stringify ever writes it raw (they escape it inside strings and
// add no whitespace), so no envelope contains it.
const batchSep = '\n'

// eachEnvelope calls f with each envelope of the frame p, in order: a
// frame holds one envelope, or a batch of them separated by newlines. It
// stops at the first error f returns, and returns an error wrapping
// errEnvelope for an empty frame or an empty envelope in a batch (two
// newlines in a row, or one at either end).
func eachEnvelope(p []byte, f func(e []byte) error) error {
	for {
		i := bytes.IndexByte(p, batchSep)
		one := p
		if i >= 0 {
			one = p[:i]
		}
		if len(one) == 0 {
			return fmt.Errorf("%w: empty envelope in a frame", errEnvelope)
		}
		if err := f(one); err != nil {
			return err
		}
		if i < 0 {
			return nil
		}
		p = p[i+1:]
	}
}

// appendBatch appends the envelope e to the batch frame b.
func appendBatch(b, e []byte) []byte {
	if len(b) > 0 {
		b = append(b, batchSep)
	}
	return append(b, e...)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
