// Package pollwire is the JSON wire format shared by the poll and longpoll
// packages: the batch of messages with its cursor, the error body, the
// error→status mapping, request parsing for the handlers and the request loop
// of the clients. poll and longpoll document the format for their users; this
// package keeps one implementation of it.
package pollwire

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/pushpull/pushpull/bus"
)

// ContentType is the media type of every body the handlers write.
const ContentType = "application/json"

// Encodings of the string fields of a message.
const (
	// EncodingBase64 marks a field encoded with standard base64 (RFC 4648
	// §4, with padding) because its bytes are not valid UTF-8.
	EncodingBase64 = "base64"
)

// ErrMalformed reports a body that is not a valid answer of the wire format.
var ErrMalformed = errors.New("malformed answer")

// AppendBatch appends the JSON answer {"messages":[...],"cursor":"..."} to dst.
func AppendBatch(dst []byte, msgs []bus.Message, cursor string) []byte {
	dst = append(dst, `{"messages":[`...)
	for i := range msgs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendMessage(dst, &msgs[i])
	}
	dst = append(dst, `],"cursor":`...)
	dst = appendString(dst, cursor)
	return append(dst, "}\n"...)
}

// AppendRawBatch appends an answer made of messages already encoded with
// AppendMessage. It appends the same bytes as AppendBatch with the decoded
// messages.
func AppendRawBatch(dst []byte, raws [][]byte, cursor string) []byte {
	dst = append(dst, `{"messages":[`...)
	for i, raw := range raws {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, raw...)
	}
	dst = append(dst, `],"cursor":`...)
	dst = appendString(dst, cursor)
	return append(dst, "}\n"...)
}

// AppendMessage appends the JSON object of m to dst.
//
// Data travels as a JSON string when it is valid UTF-8 and as base64 with
// "encoding":"base64" otherwise. Type and Meta travel as JSON strings when
// all of them are valid UTF-8, and else all of them in base64 with
// "metaEncoding":"base64". Either way the decoded bytes are exactly the
// published ones.
func AppendMessage(dst []byte, m *bus.Message) []byte {
	textMeta := utf8.ValidString(m.Type)
	for k, v := range m.Meta {
		if !textMeta {
			break
		}
		textMeta = utf8.ValidString(k) && utf8.ValidString(v)
	}
	meta := func(s string) []byte {
		if textMeta {
			return appendString(dst, s)
		}
		return appendBase64(dst, []byte(s))
	}
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, m.ID)
	if m.Type != "" {
		dst = append(dst, `,"type":`...)
		dst = meta(m.Type)
	}
	dst = append(dst, `,"data":`...)
	if utf8.Valid(m.Data) {
		dst = appendString(dst, string(m.Data))
	} else {
		dst = appendBase64(dst, m.Data)
		dst = append(dst, `,"encoding":"base64"`...)
	}
	// RFC 3339 has four-digit years: a time outside them is left out
	// rather than sent in a form clients cannot read.
	if y := m.Time.UTC().Year(); !m.Time.IsZero() && y >= 0 && y <= 9999 {
		dst = append(dst, `,"time":"`...)
		dst = m.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	if len(m.Meta) > 0 {
		dst = append(dst, `,"meta":{`...)
		first := true
		for _, k := range sortedKeys(m.Meta) {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = meta(k)
			dst = append(dst, ':')
			dst = meta(m.Meta[k])
		}
		dst = append(dst, '}')
		if !textMeta {
			dst = append(dst, `,"metaEncoding":"base64"`...)
		}
	} else if m.Type != "" && !textMeta {
		dst = append(dst, `,"metaEncoding":"base64"`...)
	}
	return append(dst, '}')
}

// Batch is a decoded answer.
type Batch struct {
	Messages []bus.Message
	Cursor   string
}

type wireBatch struct {
	Messages []wireMessage `json:"messages"`
	Cursor   *string       `json:"cursor"`
}

type wireMessage struct {
	ID           string            `json:"id"`
	Type         string            `json:"type"`
	Data         *string           `json:"data"`
	Encoding     string            `json:"encoding"`
	Time         string            `json:"time"`
	Meta         map[string]string `json:"meta"`
	MetaEncoding string            `json:"metaEncoding"`
}

// DecodeBatch decodes an answer for topic. The cursor and every message ID
// must be valid message IDs. It returns an error wrapping ErrMalformed.
func DecodeBatch(body []byte, topic string) (Batch, error) {
	var wb wireBatch
	if err := json.Unmarshal(body, &wb); err != nil {
		return Batch{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if wb.Cursor == nil {
		return Batch{}, fmt.Errorf("%w: no cursor", ErrMalformed)
	}
	if _, err := bus.ParseID(*wb.Cursor); err != nil {
		return Batch{}, fmt.Errorf("%w: cursor: %v", ErrMalformed, err)
	}
	b := Batch{Cursor: *wb.Cursor}
	if len(wb.Messages) > 0 {
		b.Messages = make([]bus.Message, len(wb.Messages))
	}
	for i := range wb.Messages {
		m, err := wb.Messages[i].decode(topic)
		if err != nil {
			return Batch{}, fmt.Errorf("%w: message %d: %v", ErrMalformed, i, err)
		}
		b.Messages[i] = m
	}
	return b, nil
}

// DecodeMessage decodes one JSON message object of topic.
func DecodeMessage(data []byte, topic string) (bus.Message, error) {
	var wm wireMessage
	if err := json.Unmarshal(data, &wm); err != nil {
		return bus.Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	m, err := wm.decode(topic)
	if err != nil {
		return bus.Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return m, nil
}

func (w *wireMessage) decode(topic string) (bus.Message, error) {
	m := bus.Message{Topic: topic, ID: w.ID}
	if _, err := bus.ParseID(w.ID); err != nil {
		return m, err
	}
	if w.Data == nil {
		return m, errors.New("no data")
	}
	switch w.Encoding {
	case "":
		if *w.Data != "" {
			m.Data = []byte(*w.Data)
		}
	case EncodingBase64:
		d, err := base64.StdEncoding.DecodeString(*w.Data)
		if err != nil {
			return m, fmt.Errorf("data: %v", err)
		}
		m.Data = d
	default:
		return m, fmt.Errorf("unknown encoding %q", w.Encoding)
	}
	text := func(s string) (string, error) { return s, nil }
	switch w.MetaEncoding {
	case "":
	case EncodingBase64:
		text = func(s string) (string, error) {
			b, err := base64.StdEncoding.DecodeString(s)
			return string(b), err
		}
	default:
		return m, fmt.Errorf("unknown metaEncoding %q", w.MetaEncoding)
	}
	var err error
	if m.Type, err = text(w.Type); err != nil {
		return m, fmt.Errorf("type: %v", err)
	}
	if err := bus.ValidateType(m.Type); err != nil {
		return m, err
	}
	if len(w.Meta) > 0 {
		m.Meta = make(map[string]string, len(w.Meta))
		for k, v := range w.Meta {
			dk, err := text(k)
			if err != nil {
				return m, fmt.Errorf("meta key: %v", err)
			}
			if m.Meta[dk], err = text(v); err != nil {
				return m, fmt.Errorf("meta value: %v", err)
			}
		}
	}
	if w.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, w.Time)
		if err != nil {
			return m, fmt.Errorf("time: %v", err)
		}
		m.Time = t
	}
	return m, nil
}
