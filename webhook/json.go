package webhook

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/pushpull/pushpull/bus"
)

// The JSON forms of Attempt, DeadLetter and DeliveryLog are stable: stores
// keep them, the admin API serves them and people read them. Times are
// RFC 3339 with nanoseconds; a duration is a Go duration string ("1.5s")
// beside the same duration in milliseconds (a number, with a fraction);
// bytes are text when they are valid UTF-8 and base64 otherwise, under a
// name ending in "_base64".

// attemptJSON is the JSON form of an Attempt.
type attemptJSON struct {
	Delivery       string    `json:"delivery"`
	Endpoint       string    `json:"endpoint"`
	Message        string    `json:"message,omitempty"`
	Type           string    `json:"type,omitempty"`
	N              int       `json:"n"`
	At             time.Time `json:"at"`
	OK             bool      `json:"ok"`
	Status         int       `json:"status,omitempty"`
	Latency        string    `json:"latency"`
	LatencyMS      float64   `json:"latency_ms"`
	Error          string    `json:"error,omitempty"`
	Response       *string   `json:"response,omitempty"`
	ResponseBase64 []byte    `json:"response_base64,omitempty"`
	Next           string    `json:"next,omitempty"`
	NextMS         float64   `json:"next_ms,omitempty"`
}

// MarshalJSON implements json.Marshaler:
//
//	{"delivery":"msg_…","endpoint":"shop","message":"…","type":"order.paid",
//	 "n":1,"at":"2026-12-03T07:00:00.123Z","ok":false,"status":503,
//	 "latency":"12.5ms","latency_ms":12.5,"error":"webhook: server answered 503 …",
//	 "response":"down","next":"5s","next_ms":5000}
//
// The response body is "response" when it is valid UTF-8, else
// "response_base64"; "next" is absent when no attempt follows.
func (a Attempt) MarshalJSON() ([]byte, error) {
	j := attemptJSON{
		Delivery: a.Delivery, Endpoint: a.Endpoint, Message: a.Message, Type: a.Type,
		N: a.N, At: a.At, OK: a.OK(), Status: a.Status, Error: a.Error,
	}
	j.Latency, j.LatencyMS = a.Latency.String(), ms(a.Latency)
	if a.Next != 0 {
		j.Next, j.NextMS = a.Next.String(), ms(a.Next)
	}
	j.Response, j.ResponseBase64 = textOrBytes(a.Response)
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler, reading the form MarshalJSON
// writes. A duration is read from its string, or from its milliseconds
// when the string is absent. It also reads the form of earlier versions,
// which had no MarshalJSON (Go field names, durations in nanoseconds, the
// response in base64), as stores kept it.
func (a *Attempt) UnmarshalJSON(b []byte) error {
	var j struct {
		attemptJSON
		Latency json.RawMessage `json:"latency"`
		Next    json.RawMessage `json:"next"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	legacy := isNumber(j.Latency) || isNumber(j.Next)
	lat, err := durationField(j.Latency, j.LatencyMS)
	if err != nil {
		return fmt.Errorf("webhook: attempt latency: %w", err)
	}
	next, err := durationField(j.Next, j.NextMS)
	if err != nil {
		return fmt.Errorf("webhook: attempt next: %w", err)
	}
	resp := bytesOf(j.Response, j.ResponseBase64)
	if legacy && j.Response != nil {
		if resp, err = base64.StdEncoding.DecodeString(*j.Response); err != nil {
			return fmt.Errorf("webhook: attempt response: %w", err)
		}
	}
	*a = Attempt{
		Delivery: j.Delivery, Endpoint: j.Endpoint, Message: j.Message, Type: j.Type,
		N: j.N, At: j.At, Status: j.Status, Latency: lat, Error: j.Error,
		Response: resp, Next: next,
	}
	if j.OK {
		a.outcome = outcomeOK
	}
	return nil
}

// isNumber reports whether raw is a JSON number.
func isNumber(raw json.RawMessage) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// durationField reads a duration: a string ("1.5s"), a number of
// nanoseconds (the earlier form), or, when absent, msec milliseconds.
func durationField(raw json.RawMessage, msec float64) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Duration(msec * float64(time.Millisecond)), nil
	}
	if isNumber(raw) {
		var ns int64
		err := json.Unmarshal(raw, &ns)
		return time.Duration(ns), err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, err
	}
	if s == "" {
		return time.Duration(msec * float64(time.Millisecond)), nil
	}
	return time.ParseDuration(s)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// textOrBytes splits b into its JSON text form, when valid UTF-8, or its
// base64 form. Nil stays absent; empty is an empty text.
func textOrBytes(b []byte) (*string, []byte) {
	switch {
	case b == nil:
		return nil, nil
	case utf8.Valid(b):
		s := string(b)
		return &s, nil
	}
	return nil, b
}

func bytesOf(s *string, b []byte) []byte {
	if s != nil {
		return []byte(*s)
	}
	return b
}

// messageJSON is the JSON form of a bus message in a DeadLetter.
type messageJSON struct {
	Topic      string            `json:"topic"`
	ID         string            `json:"id"`
	Type       string            `json:"type,omitempty"`
	Time       time.Time         `json:"time"`
	Data       *string           `json:"data,omitempty"`
	DataBase64 []byte            `json:"data_base64,omitempty"`
	Meta       map[string]string `json:"meta,omitempty"`
}

// deadLetterJSON is the JSON form of a DeadLetter.
type deadLetterJSON struct {
	Endpoint string      `json:"endpoint"`
	Delivery string      `json:"delivery"`
	Message  messageJSON `json:"message"`
	Attempts []Attempt   `json:"attempts"`
	Error    string      `json:"error"`
	At       time.Time   `json:"at"`
}

// MarshalJSON implements json.Marshaler:
//
//	{"endpoint":"shop","delivery":"msg_…","message":{"topic":"orders",
//	 "id":"…","type":"order.paid","time":"…","data":"{\"n\":1}"},
//	 "attempts":[…],"error":"webhook: retries exhausted …","at":"…"}
//
// The message's data is "data" when it is valid UTF-8, else
// "data_base64".
func (dl DeadLetter) MarshalJSON() ([]byte, error) {
	j := deadLetterJSON{
		Endpoint: dl.Endpoint, Delivery: dl.Delivery, Attempts: dl.Attempts, Error: dl.Error, At: dl.At,
		Message: messageJSON{Topic: dl.Message.Topic, ID: dl.Message.ID, Type: dl.Message.Type, Time: dl.Message.Time, Meta: dl.Message.Meta},
	}
	if j.Attempts == nil {
		j.Attempts = []Attempt{}
	}
	j.Message.Data, j.Message.DataBase64 = textOrBytes(dl.Message.Data)
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler, reading the form MarshalJSON
// writes.
func (dl *DeadLetter) UnmarshalJSON(b []byte) error {
	var j deadLetterJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	m := j.Message
	*dl = DeadLetter{
		Endpoint: j.Endpoint, Delivery: j.Delivery, Attempts: j.Attempts, Error: j.Error, At: j.At,
		Message: bus.Message{Topic: m.Topic, ID: m.ID, Type: m.Type, Time: m.Time, Meta: m.Meta,
			Data: bytesOf(m.Data, m.DataBase64)},
	}
	if len(dl.Attempts) == 0 {
		dl.Attempts = nil
	}
	return nil
}

// deliveryLogJSON is the JSON form of a DeliveryLog.
type deliveryLogJSON struct {
	ID        string        `json:"id"`
	Endpoint  string        `json:"endpoint"`
	MessageID string        `json:"message"`
	Type      string        `json:"type,omitempty"`
	State     DeliveryState `json:"state"`
	Attempts  []Attempt     `json:"attempts"`
}

// MarshalJSON implements json.Marshaler:
//
//	{"id":"msg_…","endpoint":"shop","message":"…","type":"order.paid",
//	 "state":"delivered","attempts":[…]}
func (l DeliveryLog) MarshalJSON() ([]byte, error) {
	j := deliveryLogJSON(l)
	if j.Attempts == nil {
		j.Attempts = []Attempt{}
	}
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler, reading the form MarshalJSON
// writes.
func (l *DeliveryLog) UnmarshalJSON(b []byte) error {
	var j deliveryLogJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*l = DeliveryLog(j)
	if len(l.Attempts) == 0 {
		l.Attempts = nil
	}
	return nil
}

// endpointStatusJSON is the JSON form of an EndpointStatus.
type endpointStatusJSON struct {
	ID       string     `json:"id"`
	Topic    string     `json:"topic"`
	Running  bool       `json:"running"`
	Disabled bool       `json:"disabled"`
	Leased   bool       `json:"leased"`
	Version  int64      `json:"version,omitempty"`
	Cursor   string     `json:"cursor"`
	Error    string     `json:"error,omitempty"`
	Since    *time.Time `json:"since,omitempty"`
}

// MarshalJSON implements json.Marshaler:
//
//	{"id":"shop","topic":"orders","running":true,"disabled":false,
//	 "leased":true,"version":3,"cursor":"…","error":"…","since":"…"}
//
// "error" and "since" are absent while the endpoint is not failing. The
// form is for reading (an admin API, a status page); it is not read back.
func (s EndpointStatus) MarshalJSON() ([]byte, error) {
	j := endpointStatusJSON{ID: s.ID, Topic: s.Topic, Running: s.Running, Disabled: s.Disabled,
		Leased: s.Leased, Version: s.Version, Cursor: s.Cursor}
	if s.Err != nil {
		j.Error = s.Err.Error()
	}
	if !s.Since.IsZero() {
		j.Since = &s.Since
	}
	return json.Marshal(j)
}
