package sse

import (
	"bytes"
	"io"
	"iter"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultMaxEventSize is the largest event a Parser accepts when its
// MaxEventSize is zero: 1 MiB.
const DefaultMaxEventSize = 1 << 20

// An Event is one event dispatched by a Parser.
type Event struct {
	// ID is the stream's last event ID when the event was dispatched: the
	// value of the most recent id field, which persists across events
	// until another id field changes it (as EventSource's lastEventId).
	ID string
	// Type is the value of the event field, or "" when the event had none;
	// a browser reports "" as "message".
	Type string
	// Data is the event's data: its data fields joined by LF.
	Data string

	// idOnly marks a block that set the ID but carried no data. The
	// WHATWG algorithm dispatches nothing for it; only Client asks for it.
	idOnly bool
}

// A Parser reads events from a text/event-stream body following the WHATWG
// HTML rules (§9.2.6, "Interpreting an event stream"): UTF-8 only, one BOM
// stripped at the start, lines ended by CR, LF or CRLF (a CRLF split across
// reads counts once), comments, case-sensitive field names, one leading
// space stripped from values, id values containing NUL ignored, retry
// accepted only as ASCII digits, and an unterminated final event discarded
// together with its id.
//
// Unlike bufio.Scanner it has no line limit of its own: a line or an event
// may be as long as MaxEventSize, past which Next returns an
// *EventTooLargeError.
//
// A Parser is not safe for concurrent use.
type Parser struct {
	// MaxEventSize bounds the bytes of one event: its data, type and the
	// line being read. Zero means DefaultMaxEventSize. It must not be
	// changed after the first call of Next.
	MaxEventSize int

	r       io.Reader
	buf     []byte
	pos     int
	end     int
	rerr    error // the reader's error, reported once buf is drained
	err     error // sticky error returned by Next
	line    []byte
	skipLF  bool // the previous line ended with CR
	started bool // the BOM check is done

	data     []byte
	typ      string
	idBuf    string
	idSeen   bool
	lastID   string
	retry    time.Duration
	hasRetry bool

	emitIDOnly bool
}

// NewParser returns a Parser reading from r.
func NewParser(r io.Reader) *Parser {
	return &Parser{r: r}
}

// Parse returns an iterator over the events of r. It stops after the first
// error, which it yields; a clean end of r ends the iteration without one.
func Parse(r io.Reader) iter.Seq2[Event, error] {
	return NewParser(r).Events()
}

// Events returns an iterator over the events still to come. It stops after
// the first error, which it yields; the end of the stream ends the iteration
// without an error.
func (p *Parser) Events() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			ev, err := p.Next()
			if err == io.EOF {
				return
			}
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// LastEventID returns the stream's last event ID: the ID of the last
// dispatched event, or the value of an id field committed by a blank line
// that carried no data. A client sends it as Last-Event-ID when it
// reconnects.
func (p *Parser) LastEventID() string { return p.lastID }

// Retry returns the reconnection time set by the last valid retry field, and
// false when there was none.
func (p *Parser) Retry() (time.Duration, bool) { return p.retry, p.hasRetry }

// Next returns the next event. At the end of the stream it returns io.EOF
// (an unterminated final event is discarded, with its id). A read error is
// returned as it is, an oversized event as *EventTooLargeError; after any
// error Next keeps returning it.
func (p *Parser) Next() (Event, error) {
	if p.err != nil {
		return Event{}, p.err
	}
	for {
		line, err := p.readLine()
		if err != nil {
			p.err = err
			return Event{}, err
		}
		if len(line) == 0 {
			if ev, ok := p.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		p.field(line)
	}
}

func (p *Parser) maxSize() int {
	if p.MaxEventSize > 0 {
		return p.MaxEventSize
	}
	return DefaultMaxEventSize
}

// dispatch ends the current block, as a blank line does.
func (p *Parser) dispatch() (Event, bool) {
	idSeen := p.idSeen
	p.idSeen = false
	p.lastID = p.idBuf
	if len(p.data) == 0 {
		p.typ = ""
		if idSeen && p.emitIDOnly {
			return Event{ID: p.lastID, idOnly: true}, true
		}
		return Event{}, false
	}
	ev := Event{ID: p.lastID, Type: p.typ, Data: string(p.data[:len(p.data)-1])}
	p.data = p.data[:0]
	p.typ = ""
	return ev, true
}

// field interprets one non-empty line.
func (p *Parser) field(line []byte) {
	if line[0] == ':' {
		return
	}
	if !utf8.Valid(line) {
		line = decodeUTF8(nil, line)
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "event":
		p.typ = string(value)
	case "data":
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.idBuf = string(value)
			p.idSeen = true
		}
	case "retry":
		if d, ok := parseRetry(value); ok {
			p.retry, p.hasRetry = d, true
		}
	}
}

// parseRetry reads a retry value: ASCII digits only, milliseconds in base
// ten. Values too large for a Duration are clamped.
func parseRetry(v []byte) (time.Duration, bool) {
	if len(v) == 0 {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	ms, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || ms > math.MaxInt64/int64(time.Millisecond) {
		return time.Duration(math.MaxInt64), true
	}
	return time.Duration(ms) * time.Millisecond, true
}

// readLine returns the next complete line without its terminator. The
// returned slice is valid until the next call.
func (p *Parser) readLine() ([]byte, error) {
	if !p.started {
		if err := p.skipBOM(); err != nil {
			return nil, err
		}
	}
	p.line = p.line[:0]
	for {
		if p.pos == p.end {
			// At io.EOF an unterminated line and event are dropped.
			if err := p.fill(); err != nil {
				return nil, err
			}
		}
		if p.skipLF {
			p.skipLF = false
			if p.buf[p.pos] == '\n' {
				p.pos++
				continue
			}
		}
		chunk := p.buf[p.pos:p.end]
		i := bytes.IndexAny(chunk, "\r\n")
		if i < 0 {
			p.line = append(p.line, chunk...)
			p.pos = p.end
			if err := p.checkSize(); err != nil {
				return nil, err
			}
			continue
		}
		p.skipLF = chunk[i] == '\r'
		p.pos += i + 1
		if len(p.line) == 0 {
			// The whole line is in the buffer: no copy. The capacity is cut
			// so nothing can append into the buffer.
			line := chunk[:i:i]
			if len(line)+len(p.data)+len(p.typ) > p.maxSize() {
				return nil, &EventTooLargeError{Max: p.maxSize()}
			}
			return line, nil
		}
		p.line = append(p.line, chunk[:i]...)
		if err := p.checkSize(); err != nil {
			return nil, err
		}
		return p.line, nil
	}
}

func (p *Parser) checkSize() error {
	if n := len(p.line) + len(p.data) + len(p.typ); n > p.maxSize() {
		return &EventTooLargeError{Max: p.maxSize()}
	}
	return nil
}

var bom = []byte("\xEF\xBB\xBF")

// skipBOM drops one byte order mark at the start of the stream, waiting for
// as many bytes as it takes to tell.
func (p *Parser) skipBOM() error {
	for {
		b := p.buf[p.pos:p.end]
		if len(b) >= len(bom) || !bytes.HasPrefix(bom, b) {
			if bytes.HasPrefix(b, bom) {
				p.pos += len(bom)
			}
			p.started = true
			return nil
		}
		if err := p.fill(); err != nil {
			p.started = true
			return err
		}
	}
}

// fill reads more bytes into the buffer, keeping the unread ones.
func (p *Parser) fill() error {
	if p.buf == nil {
		p.buf = make([]byte, 4096)
	}
	if p.pos > 0 {
		n := copy(p.buf, p.buf[p.pos:p.end])
		p.pos, p.end = 0, n
	}
	if p.end == len(p.buf) {
		return nil // full; the caller consumes first
	}
	for range 100 {
		if p.rerr != nil {
			return p.rerr
		}
		n, err := p.r.Read(p.buf[p.end:])
		p.end += n
		if err != nil {
			p.rerr = err
		}
		if n > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}

// decodeUTF8 appends src to dst with every maximal ill-formed subsequence
// replaced by U+FFFD, as the WHATWG UTF-8 decoder does.
func decodeUTF8(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		c := src[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if r, size := utf8.DecodeRune(src[i:]); r != utf8.RuneError || size > 1 {
			dst = append(dst, src[i:i+size]...)
			i += size
			continue
		}
		// Ill-formed: skip the lead byte and the continuation bytes that
		// could still have completed it.
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
			need = 2
		case c == 0xED:
			need, hi = 2, 0x9F
		case c == 0xF0:
			need, lo = 3, 0x90
		case c >= 0xF1 && c <= 0xF3:
			need = 3
		case c == 0xF4:
			need, hi = 3, 0x8F
		}
		i++
		for ; need > 0 && i < len(src) && src[i] >= lo && src[i] <= hi; need-- {
			i++
			lo, hi = 0x80, 0xBF
		}
		dst = append(dst, "\uFFFD"...)
	}
	return dst
}

// normalizeData returns data as a Parser reports it after an encoder wrote
// it: CR and CRLF become LF and invalid UTF-8 becomes U+FFFD.
func normalizeData(data []byte) string {
	s := string(decodeUTF8(nil, data))
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}
