package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/httptopic"
	"github.com/pushpull/pushpull/metrics"
)

// Defaults of the Receiver's fields.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultReadTimeout    = 15 * time.Second
	DefaultIdempotencyTTL = 72 * time.Hour
	DefaultClaimTTL       = 10 * time.Minute
)

// An Event is a verified delivery as the Receiver hands it to its handler.
type Event struct {
	// ID is the event's id: webhook-id or svix-id (Standard), the body's
	// "id" (Stripe) or X-GitHub-Delivery (GitHub). It may be empty for Stripe
	// and GitHub deliveries that lack one. For Standard and Stripe it is
	// signed and is what the Receiver deduplicates on. GitHub signs only
	// the body, so for GitHub it is an unsigned label that anyone can
	// change: the Receiver deduplicates GitHub deliveries on a hash of the
	// verified body instead, and so must any code that relies on ID to
	// refuse replays.
	ID string
	// Scheme is the format that was verified.
	Scheme Scheme
	// Timestamp is the signed timestamp of this attempt (zero for GitHub).
	// It changes on every retry: order events by a field of the body.
	Timestamp time.Time
	// Body is exactly the bytes whose signature was verified. Decode them
	// yourself; never re-encode and verify again.
	Body []byte
	// Header is the request's header.
	Header http.Header
}

// A Receiver is an http.Handler that accepts signed webhook deliveries. Each
// POST goes through, in order:
//
//  1. when publishing to Broker, the request's topic (400 when invalid, 404
//     when Topic refuses it); the body size limit (413, before any
//     signature work) and the body's read deadline (408);
//  2. the required headers (400);
//  3. the signed timestamp, within Tolerance either way (400);
//  4. the signature, by any unexpired key of Keys (401);
//  5. the idempotency claim of the event's key: an event already handled
//     answers 200 and is not handled again; one being handled by another
//     request right now answers 409 with Retry-After, so its sender retries
//     and learns the outcome;
//  6. the optional ordering guard: an event older than the last one handled
//     for its key answers 200 and is skipped;
//  7. Handler, or a publish to the request's topic on Broker. On error the claim is
//     released and the answer is 500, so the sender retries; on success the
//     answer is 200.
//
// The idempotency key is always signed data, so a replayed request cannot
// dodge it by changing a header: webhook-id (or svix-id) for Standard; the
// body's "id" for Stripe, or a SHA-256 of the body when it has none; and a
// SHA-256 of the body for GitHub, whose signature covers nothing else (not
// X-GitHub-Delivery, which is therefore not used). A replay of a captured
// GitHub request, with whatever headers, is thus a duplicate for
// IdempotencyTTL. The flip side: two different GitHub events whose bodies
// are byte for byte identical within IdempotencyTTL are handled once; real
// GitHub payloads carry ids and timestamps, so they practically never
// repeat. Stripe and Standard signatures also cover a timestamp, which
// bounds replays to Tolerance even once the key is forgotten.
//
// Set Keys and either Handler or Broker (and Topic, unless the route has a
// {topic}); the rest has useful zero values. Fields must not be changed after the first request. A Receiver is
// safe for concurrent use.
type Receiver struct {
	// Keys verify signatures. For Stripe and GitHub use RawSecret.
	Keys Keyring
	// Scheme is the signature format. The zero value is Standard.
	Scheme Scheme
	// Handler handles each verified, new event. Its error makes the
	// Receiver answer 500 and forget the event, so a retry can succeed.
	Handler func(ctx context.Context, e *Event) error
	// Broker, used when Handler is nil, receives each event as a bus
	// message on the request's topic (see Topic): for Standard deliveries
	// Type and Data come from the Payload (see ParsePayload), otherwise
	// Data is the body. Meta holds "webhook-id".
	Broker bus.Publisher
	// Topic returns the topic a request's event is published to on Broker,
	// as the Topic function of the transport handlers does. Nil means the
	// {topic} path value, then the topic query parameter. The name is
	// checked with bus.ValidateTopic. An invalid name is answered 400 and
	// any other error 404, before the body is read. Unused when Handler is
	// set. The topic is not covered by the signature: when senders must
	// not choose it, route it in the pattern or return a fixed one.
	Topic func(*http.Request) (string, error)
	// MaxBodyBytes limits the body. Zero means DefaultMaxBodyBytes. A
	// larger declared Content-Length is refused at once; otherwise the
	// body's buffer starts at no more than 64 KiB and grows only as bytes
	// arrive, so a declared length alone reserves no more.
	MaxBodyBytes int64
	// ReadTimeout bounds the reading of the body, from the moment the
	// Receiver gets the request, so a client that stalls mid-body cannot
	// hold a goroutine and a connection for long, whatever the server's
	// own timeouts: past it the answer is 408 (ErrReadTimeout) and the
	// connection is closed. It is set with
	// http.ResponseController.SetReadDeadline and cleared once the body is
	// read, so a slow Handler is not cut off. A shorter ReadTimeout of the
	// http.Server stays in force. Zero means DefaultReadTimeout; negative
	// means none, leaving it to the server. Behind a ResponseWriter that
	// cannot set deadlines (a recorder, or a middleware's wrapper without
	// an Unwrap method) there is none.
	ReadTimeout time.Duration
	// Tolerance is how far the signed timestamp may be from Clock, either
	// way. Zero means DefaultTolerance.
	Tolerance time.Duration
	// MaxSignatures caps the signatures a request may carry. Zero means
	// DefaultMaxSignatures.
	MaxSignatures int
	// Idempotency stores the events' idempotency keys. Nil means a
	// MemoryIdempotency of this Receiver. Share a store between instances
	// of a receiver.
	Idempotency IdempotencyStore
	// IdempotencyTTL is how long a handled event is remembered. It should
	// outlast the sender's retry schedule, and for GitHub it is how long a
	// captured request cannot be replayed. Zero means
	// DefaultIdempotencyTTL.
	IdempotencyTTL time.Duration
	// ClaimTTL is how long a claim lasts while the handler runs, so a
	// receiver that dies mid-event does not block its retries forever.
	// Zero means DefaultClaimTTL.
	ClaimTTL time.Duration
	// Order, when set, returns an ordering key and a sequence (a version,
	// or a timestamp such as Payload.Timestamp in nanoseconds) read from
	// the verified body. An event whose sequence is not above the last
	// handled one for its key is acknowledged and skipped. The memory of
	// sequences is per Receiver.
	Order func(e *Event) (key string, seq int64, ok bool)
	// Clock returns the current time. Nil means time.Now.
	Clock func() time.Time
	// Logger receives refused requests and handler errors at debug and
	// warn level. Nil means no logging.
	Logger *slog.Logger
	// Metrics, when set, receives a Refused event, with Transport
	// "webhook" and the answer's status, for every request refused
	// before its handling: reason "signature" when no signature matched
	// (or no key is usable), "replay" when the timestamp is out of
	// tolerance or the event was handled already (a duplicate, answered
	// 200), "invalid" otherwise. Nil reports nothing.
	Metrics metrics.Recorder

	once  sync.Once
	store IdempotencyStore
	mu    sync.Mutex
	last  map[string]int64 // ordering guard
	onMAC func()           // counts signature computations in tests
}

var _ http.Handler = (*Receiver)(nil)

func (r *Receiver) init() {
	r.once.Do(func() {
		r.store = r.Idempotency
		if r.store == nil {
			r.store = &MemoryIdempotency{Clock: r.Clock}
		}
		r.last = make(map[string]int64)
	})
}

func (r *Receiver) now() time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}

func (r *Receiver) maxBody() int64 {
	if r.MaxBodyBytes > 0 {
		return r.MaxBodyBytes
	}
	return DefaultMaxBodyBytes
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.init()
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "webhook: POST only", http.StatusMethodNotAllowed)
		return
	}
	var topic string
	if r.Handler == nil && r.Broker != nil {
		t, err := httptopic.Resolve(req, r.Topic)
		if err != nil {
			if !errors.Is(err, bus.ErrInvalidTopic) {
				err = fmt.Errorf("%w: %w", errTopicFunc, err)
			}
			r.refuse(w, req, err)
			return
		}
		topic = t
	}
	e, err := r.verify(w, req)
	if errors.Is(err, ErrReadTimeout) {
		w.Header().Set("Connection", "close")
	}
	if err != nil {
		r.refuse(w, req, err)
		return
	}
	ctx := req.Context()
	key := r.idempotencyKey(e)
	if key != "" {
		st, err := r.store.Claim(ctx, key, durationOr(r.ClaimTTL, DefaultClaimTTL))
		switch {
		case err != nil:
			r.fail(w, req, fmt.Errorf("webhook: idempotency claim: %w", err))
			return
		case st == Done:
			r.refused(http.StatusOK, refusedReplay)
			writeText(w, http.StatusOK, "duplicate")
			return
		case st == InProgress:
			w.Header().Set("Retry-After", "1")
			writeText(w, http.StatusConflict, "in progress")
			return
		}
	}
	okey, prev, stale := r.advance(e)
	if stale {
		r.complete(ctx, key)
		writeText(w, http.StatusOK, "stale")
		return
	}
	if err := r.handle(ctx, e, topic); err != nil {
		r.retreat(okey, prev, e)
		if key != "" {
			_ = r.store.Release(context.WithoutCancel(ctx), key)
		}
		r.fail(w, req, err)
		return
	}
	r.complete(ctx, key)
	writeText(w, http.StatusOK, "ok")
}

// idempotencyKey returns the key e is deduplicated on, made only of signed
// data, or "" when e has none. GitHub signs the body alone, so its key is
// the body's hash; X-GitHub-Delivery is not signed and would let a replay
// with another value run the handler again.
func (r *Receiver) idempotencyKey(e *Event) string {
	switch r.Scheme {
	case GitHub:
		return bodyKey(GitHub, e.Body)
	case Stripe:
		if e.ID == "" {
			return bodyKey(Stripe, e.Body)
		}
	}
	if e.ID == "" {
		return ""
	}
	return r.Scheme.String() + ":" + e.ID
}

// bodyKey is the idempotency key of a body: the scheme, then "sha256:" and
// the hex SHA-256 of the body, which no event id of Stripe ("evt_…") looks
// like.
func bodyKey(s Scheme, body []byte) string {
	sum := sha256.Sum256(body)
	return s.String() + ":sha256:" + hex.EncodeToString(sum[:])
}

// verify runs steps 1 to 4 and returns the event.
func (r *Receiver) verify(w http.ResponseWriter, req *http.Request) (*Event, error) {
	max := r.maxBody()
	if req.ContentLength > max {
		return nil, ErrBodyTooLarge
	}
	unset := r.setReadDeadline(w, req)
	body, err := readBody(http.MaxBytesReader(w, req.Body, max), req.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, ErrBodyTooLarge
		case isTimeout(err):
			return nil, fmt.Errorf("%w: %v", ErrReadTimeout, err)
		}
		return nil, fmt.Errorf("%w: reading body: %v", ErrInvalidHeaders, err)
	}
	unset()
	v := verifier{keys: r.Keys, now: r.now(), tolerance: r.Tolerance, maxSigs: r.MaxSignatures, onMAC: r.onMAC}
	p, err := v.parse(r.Scheme, req.Header)
	if err != nil {
		return nil, err
	}
	if p.hasTS {
		if err := v.checkTime(p.ts); err != nil {
			return nil, err
		}
	}
	if err := v.checkSignature(r.Scheme, p, body); err != nil {
		return nil, err
	}
	e := &Event{ID: p.id, Scheme: r.Scheme, Body: body, Header: req.Header}
	if p.hasTS {
		e.Timestamp = time.Unix(p.ts, 0)
	}
	if r.Scheme == Stripe {
		var s struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(body, &s) == nil && len(s.ID) <= MaxIDLen {
			e.ID = s.ID
		}
	}
	return e, nil
}

// setReadDeadline gives the reading of the body its deadline, unless the
// server's own ReadTimeout is shorter, and returns the function that
// clears it once the body is read, so that it bounds the body alone and
// never the handler. (An HTTP/1 server also clears it when the body hits
// EOF; an HTTP/2 one keeps the stream's timer until it is cleared.)
func (r *Receiver) setReadDeadline(w http.ResponseWriter, req *http.Request) (unset func()) {
	d := r.ReadTimeout
	if d == 0 {
		d = DefaultReadTimeout
	}
	if d < 0 {
		return func() {}
	}
	if srv, ok := req.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.ReadTimeout > 0 && srv.ReadTimeout <= d {
		return func() {}
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(d)) != nil {
		return func() {} // not supported: nothing to clear
	}
	return func() { _ = rc.SetReadDeadline(time.Time{}) }
}

// maxBodyPrealloc caps the buffer allocated for a body before its bytes
// arrive, so a declared Content-Length alone cannot make an
// unauthenticated client pin MaxBodyBytes of memory per request.
const maxBodyPrealloc = 64 << 10

// readBody reads all of rd, the body of a request whose declared length is
// n (-1 when unknown), and returns exactly the bytes read. The buffer
// starts at n, at most maxBodyPrealloc, and grows only as bytes arrive. A
// body shorter than its declared length is an error.
func readBody(rd io.Reader, n int64) ([]byte, error) {
	size := int64(512)
	if n >= 0 {
		size = min(n, maxBodyPrealloc) + 1 // +1: room to read EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf)) // doubles, as bytes keep coming
		}
		m, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if n > 0 && int64(len(buf)) < n {
		return nil, io.ErrUnexpectedEOF
	}
	return buf, nil
}

func (r *Receiver) handle(ctx context.Context, e *Event, topic string) error {
	if r.Handler != nil {
		return r.Handler(ctx, e)
	}
	if r.Broker == nil {
		return errors.New("webhook: Receiver has neither Handler nor Broker")
	}
	m := bus.Message{Data: e.Body, Meta: map[string]string{"webhook-id": e.ID}}
	if r.Scheme == Standard {
		if p, err := ParsePayload(e.Body); err == nil {
			if data, err := p.Bytes(); err == nil {
				m.Type, m.Data = p.Type, data
			}
		}
	}
	_, err := r.Broker.Publish(ctx, topic, m)
	return err
}

func (r *Receiver) complete(ctx context.Context, key string) {
	if key == "" {
		return
	}
	if err := r.store.Complete(context.WithoutCancel(ctx), key, durationOr(r.IdempotencyTTL, DefaultIdempotencyTTL)); err != nil && r.Logger != nil {
		r.Logger.WarnContext(ctx, "webhook: idempotency complete failed", "key", key, "error", err)
	}
}

// advance runs the ordering guard: it records e's sequence for its key
// unless e is stale, and returns what retreat needs to undo that.
func (r *Receiver) advance(e *Event) (key string, prev int64, stale bool) {
	if r.Order == nil {
		return "", 0, false
	}
	key, seq, ok := r.Order(e)
	if !ok {
		return "", 0, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, seen := r.last[key]
	if seen && seq <= prev {
		return "", 0, true
	}
	if !seen {
		prev = minSeq
	}
	r.last[key] = seq
	return key, prev, false
}

const minSeq = -1 << 63

// retreat undoes advance after a handler error, unless a newer event moved
// the key on meanwhile.
func (r *Receiver) retreat(key string, prev int64, e *Event) {
	if key == "" {
		return
	}
	_, seq, _ := r.Order(e)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last[key] == seq {
		if prev == minSeq {
			delete(r.last, key)
		} else {
			r.last[key] = prev
		}
	}
}

func (r *Receiver) refuse(w http.ResponseWriter, req *http.Request, err error) {
	code := statusOf(err)
	r.refused(code, refusal(err))
	if r.Logger != nil {
		r.Logger.DebugContext(req.Context(), "webhook: refused", "status", code, "error", err)
	}
	writeText(w, code, err.Error())
}

func (r *Receiver) fail(w http.ResponseWriter, req *http.Request, err error) {
	if r.Logger != nil {
		r.Logger.WarnContext(req.Context(), "webhook: handling failed", "error", err)
	}
	writeText(w, http.StatusInternalServerError, "webhook: handling failed")
}

func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}
