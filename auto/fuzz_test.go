package auto

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzDecodePublish: the publish body parser never panics, and what it
// accepts round-trips through the encoding the Client sends.
func FuzzDecodePublish(f *testing.F) {
	for _, s := range []string{`{}`, `{"data":"x"}`, `{"data64":"AP8="}`, `{"type":"t","meta":{"k":"v"}}`, `{"data":"a","data64":"YQ=="}`, `null`, `[]`, `{"data":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodePublish(body)
		if err != nil {
			return
		}
		var p publishRequest
		p.Type, p.Meta = m.Type, m.Meta
		if utf8.Valid(m.Data) {
			s := string(m.Data)
			p.Data = &s
		}
		if p.Data == nil {
			return
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodePublish(b)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		if string(again.Data) != string(m.Data) || again.Type != m.Type {
			t.Fatalf("round trip changed %q to %q", m.Data, again.Data)
		}
	})
}
