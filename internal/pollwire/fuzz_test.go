package pollwire

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry"
)

// Any message survives encoding byte for byte.
func FuzzMessageRoundTrip(f *testing.F) {
	f.Add("e-1", "t", []byte("hello"), "k", "v", int64(0))
	f.Add("e-2", "\xff", []byte{0xff, 0}, "\xfe", "\u2028", int64(1764219600123456789))
	f.Add("e-3", "", []byte(nil), "", "", int64(-1))
	f.Fuzz(func(t *testing.T, id, typ string, data []byte, k, v string, nanos int64) {
		if _, err := bus.ParseID(id); err != nil || bus.ValidateType(typ) != nil {
			t.Skip()
		}
		m := bus.Message{ID: id, Type: typ, Data: data}
		if nanos > 0 {
			m.Time = time.Unix(0, nanos)
		}
		if k != "" || v != "" {
			m.Meta = map[string]string{k: v}
		}
		raw := AppendBatch(nil, []bus.Message{m}, id)
		b, err := DecodeBatch(raw, "topic")
		if err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		got := b.Messages[0]
		if got.ID != m.ID || got.Type != m.Type || !bytes.Equal(got.Data, m.Data) || !got.Time.Equal(m.Time) || b.Cursor != id {
			t.Fatalf("round trip of %+v gave %+v (%s)", m, got, raw)
		}
		if len(got.Meta) != len(m.Meta) || got.Meta[k] != m.Meta[k] {
			t.Fatalf("meta %q became %q", m.Meta, got.Meta)
		}
	})
}

// Decoding any body never panics, and what decodes encodes and decodes to
// the same messages.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"messages":[{"id":"e-1","type":"t","data":"a","time":"2026-01-02T03:04:05.5Z","meta":{"a":"b"}}],"cursor":"e-1"}`))
	f.Add([]byte(`{"messages":[{"id":"e-1","data":"/w==","encoding":"base64","type":"/w==","metaEncoding":"base64"}],"cursor":"e-1"}`))
	f.Add([]byte(`{"messages":[],"cursor":"e-0"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := DecodeBatch(body, "topic")
		if err != nil {
			return
		}
		again, err := DecodeBatch(AppendBatch(nil, b.Messages, b.Cursor), "topic")
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if len(again.Messages) != len(b.Messages) || again.Cursor != b.Cursor {
			t.Fatalf("batch changed")
		}
		for i := range b.Messages {
			x, y := b.Messages[i], again.Messages[i]
			if x.ID != y.ID || x.Type != y.Type || !bytes.Equal(x.Data, y.Data) || !x.Time.Equal(y.Time) || len(x.Meta) != len(y.Meta) {
				t.Fatalf("message %d changed: %+v vs %+v", i, x, y)
			}
		}
	})
}

// Decoding any error answer never panics and always yields an error that
// holds the client's StatusError.
func FuzzDecodeError(f *testing.F) {
	f.Add(410, []byte(`{"error":"cursor_expired","message":"m","top":"e-4"}`))
	f.Add(400, []byte(`{"error":"invalid_cursor","message":"m"}`))
	f.Add(400, []byte(`{"error":"invalid_topic","message":"m"}`))
	f.Add(503, []byte(`<html>`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		resp := &http.Response{StatusCode: status, Header: http.Header{}}
		st := retry.ReadStatus(resp, body, time.Now())
		err := DecodeError(st, body, "t", "e-1", "test", func(s retry.Status) error { return &testStatusError{s} })
		var se *testStatusError
		if !errors.As(err, &se) || se.StatusCode != status {
			t.Fatalf("%v does not hold the status error", err)
		}
	})
}

type testStatusError struct{ retry.Status }

func (e *testStatusError) Error() string { return e.Text("test") }

// Parsing any request never panics; a request it accepts has a cursor that
// bus.ParseCursor accepts, or Latest, and one it refuses gets an error
// answer: 400 for a malformed cursor.
func FuzzParse(f *testing.F) {
	f.Add("news", "", "")
	f.Add("news", Latest, "3")
	f.Add("news", bus.Oldest, "-1")
	f.Add("news", "abc-12", "x")
	f.Add("news", "latest ", "")
	f.Add("bad topic", "0-0", "")
	f.Fuzz(func(t *testing.T, topic, after, limit string) {
		q := url.Values{"topic": {topic}, ParamAfter: {after}}
		if limit != "" {
			q.Set(ParamLimit, limit)
		}
		w := httptest.NewRecorder()
		req, ok := Parse(w, httptest.NewRequest(http.MethodGet, "/?"+q.Encode(), nil), Config{Limit: 10})
		_, cursorErr := bus.ParseCursor(topic, after)
		if !ok {
			if w.Code < 400 {
				t.Fatalf("refused with %d", w.Code)
			}
			if bus.ValidateTopic(topic) == nil && cursorErr != nil && after != Latest && w.Code != http.StatusBadRequest {
				t.Fatalf("malformed cursor %q answered %d", after, w.Code)
			}
			return
		}
		if cursorErr != nil && after != Latest {
			t.Fatalf("cursor %q accepted", after)
		}
		if req.After != after || req.Topic != topic || req.Limit < 0 || req.Limit > 10 {
			t.Fatalf("request %+v for topic %q after %q", req, topic, after)
		}
	})
}
