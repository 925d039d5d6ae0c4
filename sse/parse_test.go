package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type parseCase struct {
	name   string
	in     string
	want   []Event
	lastID string
	retry  time.Duration // 0: no valid retry field
}

func ev(typ, data, id string) Event { return Event{Type: typ, Data: data, ID: id} }

// The WPT-derived vectors of the research note (V*) and spec consequences
// (X*).
var parseCases = []parseCase{
	{name: "V1 only first BOM", in: "\xEF\xBB\xBFdata:1\n\n\xEF\xBB\xBFdata:2\n\ndata:3\n\n\n",
		want: []Event{ev("", "1", ""), ev("", "3", "")}},
	{name: "V2 second BOM is data", in: "\xEF\xBB\xBF\xEF\xBB\xBFdata:1\n\ndata:2\n\ndata:3\n\n\n",
		want: []Event{ev("", "2", ""), ev("", "3", "")}},
	{name: "V4 unterminated event and id dropped", in: "retry:1000\ndata:test1\n\nid:test\ndata:test2\n",
		want: []Event{ev("", "test1", "")}, retry: time.Second},
	{name: "V5 empty data", in: "data:\n\ndata\ndata\n\ndata:test\n\n\n",
		want: []Event{ev("", "", ""), ev("", "\n", ""), ev("", "test", "")}},
	{name: "V6 empty event", in: "event: \ndata:data\n\n\n", want: []Event{ev("", "data", "")}},
	{name: "V7 event type resets", in: "event:test\ndata:x\n\ndata:x\n\n\n",
		want: []Event{ev("test", "x", ""), ev("", "x", "")}},
	{name: "V8 utf-8 id", in: "id: \xE2\x80\xA6\nretry: 200\ndata: hello\n\n",
		want: []Event{ev("", "hello", "…")}, lastID: "…", retry: 200 * time.Millisecond},
	{name: "V9 id persists", in: "id: 1\ndata: 1\n\ndata: 2\n\nid: 2\ndata:3\n\ndata:4\n\n",
		want: []Event{ev("", "1", "1"), ev("", "2", "1"), ev("", "3", "2"), ev("", "4", "2")}, lastID: "2"},
	{name: "V10 empty id resets", in: "id: 1\ndata: 1\n\nid:\ndata:2\n\ndata:3\n\n",
		want: []Event{ev("", "1", "1"), ev("", "2", ""), ev("", "3", "")}},
	{name: "V10 bare id resets", in: "id: 1\ndata: 1\n\nid\ndata:2\n\ndata:3\n\n",
		want: []Event{ev("", "1", "1"), ev("", "2", ""), ev("", "3", "")}},
	{name: "V11 NUL NUL", in: "id: \x00\x00\nretry: 200\ndata: hello\n\n", want: []Event{ev("", "hello", "")}, retry: 200 * time.Millisecond},
	{name: "V11 x NUL", in: "id: x\x00\nretry: 200\ndata: hello\n\n", want: []Event{ev("", "hello", "")}, retry: 200 * time.Millisecond},
	{name: "V11 NUL x", in: "id: \x00x\nretry: 200\ndata: hello\n\n", want: []Event{ev("", "hello", "")}, retry: 200 * time.Millisecond},
	{name: "V11 x NUL x", in: "id: x\x00x\nretry: 200\ndata: hello\n\n", want: []Event{ev("", "hello", "")}, retry: 200 * time.Millisecond},
	{name: "V11 space NUL", in: "id:  \x00\nretry: 200\ndata: hello\n\n", want: []Event{ev("", "hello", "")}, retry: 200 * time.Millisecond},
	{name: "V11 NUL keeps previous id", in: "id: a\n\nid: x\x00\ndata: hello\n\n", want: []Event{ev("", "hello", "a")}, lastID: "a"},
	{name: "V13 bogus retry ignored", in: "retry:3000\nretry:1000x\ndata:x\n\n\n", want: []Event{ev("", "x", "")}, retry: 3 * time.Second},
	{name: "V14 retry without value", in: "retry\ndata:test\n\n\n", want: []Event{ev("", "test", "")}},
	{name: "V15 leading zero retry", in: "retry:03000\ndata:x\n\n\n", want: []Event{ev("", "x", "")}, retry: 3 * time.Second},
	{name: "V16 unknown fields", in: "data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n\n",
		want: []Event{ev("", "test\n\ntest", "")}},
	{name: "V17 CR and leading space", in: "data:\ttest\rdata: \ndata:test\n\n\n", want: []Event{ev("", "\ttest\n\ntest", "")}},
	{name: "V18 CRLF", in: "data:test\r\ndata\ndata:test\r\n\r\n", want: []Event{ev("", "test\n\ntest", "")}},
	{name: "V19 NUL data", in: "data:\x00\n\n\n\n\n", want: []Event{ev("", "\x00", "")}},
	{name: "V20 UTF-8 only", in: "data:ok\xE2\x80\xA6\n\n\n", want: []Event{ev("", "ok…", "")}},
	{name: "field names case-sensitive", in: "Data:x\ndata\x00:y\n data:z\ndata_5:w\nDATA:v\ndata:ok\n\n", want: []Event{ev("", "ok", "")}},
	{name: "one space stripped", in: "data:  two\n\ndata:\tx\n\n", want: []Event{ev("", " two", ""), ev("", "\tx", "")}},
	{name: "comments with NUL CR mixes", in: ":a\x00b\r\n:" + strings.Repeat("c", 2048) + "\rdata:x\n\n", want: []Event{ev("", "x", "")}},
	{name: "CR line ends", in: "data:a\rdata:b\r\rdata:c\r\r", want: []Event{ev("", "a\nb", ""), ev("", "c", "")}},
	{name: "CR CR is blank line", in: "data:a\r\r\ndata:b\n\n", want: []Event{ev("", "a", ""), ev("", "b", "")}},
	{name: "no colon name only", in: "data\n\n", want: []Event{ev("", "", "")}},
	{name: "BOM split never at start", in: "data:x\n\n\xEF\xBB\xBFdata:y\n\n", want: []Event{ev("", "x", "")}},
	{name: "retry zero", in: "retry:0\ndata:x\n\n", want: []Event{ev("", "x", "")}, retry: 0},
	{name: "retry minus ignored", in: "retry:-1\nretry: 5\nretry:  6\ndata:x\n\n", want: []Event{ev("", "x", "")}, retry: 5 * time.Millisecond},
	{name: "X2 id only moves cursor", in: "id: 7\n\n", lastID: "7"},
	{name: "X2 id then event", in: "id: 7\n\ndata:x\n\n", want: []Event{ev("", "x", "7")}, lastID: "7"},
	{name: "X3 invalid UTF-8", in: "data:\xFF\n\n", want: []Event{ev("", "\uFFFD", "")}},
	{name: "invalid UTF-8 maximal subparts", in: "data:\xE2\x80x\xF0\x9F\xFF\xC0\xAF\n\n", want: []Event{ev("", "\uFFFDx\uFFFD\uFFFD\uFFFD\uFFFD", "")}},
	{name: "final event without blank line", in: "data:a\n\ndata:b", want: []Event{ev("", "a", "")}},
	{name: "empty stream", in: ""},
	{name: "only BOM", in: "\xEF\xBB\xBF"},
	{name: "partial BOM", in: "\xEF\xBBdata:x\n\ndata:y\n\n", want: []Event{ev("", "y", "")}},
	{name: "event field in name-only line", in: "event\ndata:x\n\n", want: []Event{ev("", "x", "")}},
}

// chunkReader returns its chunks one per Read.
type chunkReader struct{ chunks []string }

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.chunks) > 0 && r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	return n, nil
}

func parseAll(t *testing.T, r io.Reader) ([]Event, string, time.Duration, bool) {
	t.Helper()
	p := NewParser(r)
	var got []Event
	for e, err := range p.Events() {
		require.NoError(t, err)
		got = append(got, e)
	}
	retry, ok := p.Retry()
	return got, p.LastEventID(), retry, ok
}

func TestParseVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			check := func(how string, r io.Reader) {
				got, lastID, retry, hasRetry := parseAll(t, r)
				assert.Equal(t, tc.want, got, how)
				assert.Equal(t, tc.lastID, lastID, how+": last event ID")
				assert.Equal(t, tc.retry, retry, how+": retry")
				if tc.retry > 0 {
					assert.True(t, hasRetry, how)
				}
			}
			check("whole", strings.NewReader(tc.in))
			check("byte by byte", iotest.OneByteReader(strings.NewReader(tc.in)))
			check("half reads", iotest.HalfReader(strings.NewReader(tc.in)))
			for i := 1; i < len(tc.in); i++ {
				check("split", &chunkReader{chunks: []string{tc.in[:i], tc.in[i:]}})
			}
		})
	}
}

func TestParseRetryZeroIsSet(t *testing.T) {
	t.Parallel()
	p := NewParser(strings.NewReader("retry:0\n\n"))
	_, err := p.Next()
	require.ErrorIs(t, err, io.EOF)
	d, ok := p.Retry()
	assert.True(t, ok)
	assert.Zero(t, d)
}

func TestParseTooLarge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"long line", "data:" + strings.Repeat("x", 200) + "\n\n"},
		{"many lines", strings.Repeat("data:xxxxxxxxxx\n", 20) + "\n"},
		{"long comment", ":" + strings.Repeat("x", 200) + "\n"},
		{"no line end", strings.Repeat("x", 10000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := NewParser(iotest.HalfReader(strings.NewReader("data:ok\n\n" + tc.in)))
			p.MaxEventSize = 100
			e, err := p.Next()
			require.NoError(t, err)
			assert.Equal(t, "ok", e.Data)
			_, err = p.Next()
			var tl *EventTooLargeError
			require.ErrorAs(t, err, &tl)
			assert.Equal(t, 100, tl.Max)
			_, err2 := p.Next()
			assert.Equal(t, err, err2, "the error is sticky")
		})
	}
}

func TestParseLargeEventWithinLimit(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("y", 200_000) // far past bufio.Scanner's 64 KiB
	got, _, _, _ := parseAll(t, strings.NewReader("data:"+big+"\n\n"))
	require.Len(t, got, 1)
	assert.Equal(t, big, got[0].Data)
}

func TestParseReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	p := NewParser(io.MultiReader(strings.NewReader("data:a\n\ndata:b\n"), iotest.ErrReader(boom)))
	e, err := p.Next()
	require.NoError(t, err)
	assert.Equal(t, "a", e.Data)
	_, err = p.Next()
	assert.ErrorIs(t, err, boom)
}

func TestParseIteratorStops(t *testing.T) {
	t.Parallel()
	n := 0
	for range Parse(strings.NewReader("data:1\n\ndata:2\n\ndata:3\n\n")) {
		n++
		if n == 2 {
			break
		}
	}
	assert.Equal(t, 2, n)
}
