package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// EncodingBase64 is the value of Payload.Encoding when Data carries bytes
// that are not JSON.
const EncodingBase64 = "base64"

// A Payload is the JSON body the Sender posts, in the Standard Webhooks
// shape:
//
//	{"type":"order.paid","timestamp":"2026-11-27T12:00:00.123456789Z","data":{…}}
//
// Timestamp is the time the event was published on the bus (not the time of
// the attempt), so a receiver can order events by a signed field. Data holds
// the message's data as it is when it is valid JSON. Any other data (binary,
// plain text, empty) is carried as a base64 JSON string and Encoding is
// "base64"; Bytes undoes that.
type Payload struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
	Encoding  string          `json:"encoding,omitempty"`
}

// Bytes returns the event's original data: Data itself for JSON, the
// decoded bytes for base64.
func (p *Payload) Bytes() ([]byte, error) {
	if p.Encoding != EncodingBase64 {
		return p.Data, nil
	}
	var s string
	if err := json.Unmarshal(p.Data, &s); err != nil {
		return nil, fmt.Errorf("webhook: base64 data: %w", err)
	}
	return base64.StdEncoding.DecodeString(s)
}

// NewPayload builds the payload of a bus message.
func NewPayload(m bus.Message) Payload {
	p := Payload{Type: m.Type, Timestamp: m.Time.UTC()}
	data := bytes.TrimSpace(m.Data)
	if len(data) > 0 && len(data) == len(m.Data) && json.Valid(data) {
		p.Data = json.RawMessage(data)
	} else {
		p.Data, _ = json.Marshal(base64.StdEncoding.EncodeToString(m.Data))
		p.Encoding = EncodingBase64
	}
	return p
}

// MarshalJSON encodes p with Data embedded byte for byte (encoding/json
// would compact it), so the receiver sees the publisher's exact bytes.
func (p Payload) MarshalJSON() ([]byte, error) {
	typ, err := json.Marshal(p.Type)
	if err != nil {
		return nil, err
	}
	ts, err := p.Timestamp.MarshalJSON()
	if err != nil {
		return nil, err
	}
	data := []byte(p.Data)
	if len(data) == 0 {
		data = []byte("null")
	}
	b := make([]byte, 0, len(typ)+len(ts)+len(data)+64)
	b = append(b, `{"type":`...)
	b = append(b, typ...)
	b = append(b, `,"timestamp":`...)
	b = append(b, ts...)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	if p.Encoding != "" {
		enc, _ := json.Marshal(p.Encoding)
		b = append(b, `,"encoding":`...)
		b = append(b, enc...)
	}
	return append(b, '}'), nil
}

// ParsePayload decodes a body sent by the Sender. Call it only on verified
// bytes.
func ParsePayload(body []byte) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		return p, fmt.Errorf("webhook: payload: %w", err)
	}
	return p, nil
}

// MessageID returns the webhook-id the Dispatcher uses for a bus message: a
// digest of its topic and ID, so it is the same on every attempt, after a
// restart of the dispatcher and for redeliveries, and contains only
// [A-Za-z0-9_].
func MessageID(m bus.Message) string {
	sum := sha256.Sum256([]byte(m.Topic + "\x00" + m.ID))
	return "msg_" + hex.EncodeToString(sum[:16])
}
