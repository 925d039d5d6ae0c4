package webhook

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry"
	"github.com/pushpull/pushpull/metrics"
)

// Defaults of the Dispatcher's fields.
const (
	DefaultMaxConcurrent    = 16
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = time.Minute
	DefaultMaxLog           = 100
	DefaultMaxDeadLetters   = 10000
	DefaultRegistryPoll     = time.Second
	DefaultLeaseTTL         = 15 * time.Second
	DefaultDisableAfter     = 5 * 24 * time.Hour
)

// A Dispatcher delivers the messages of bus topics to registered endpoints.
// It is a durable subscriber per endpoint: it delivers each message of the
// endpoint's Topic whose Type passes its filter, one at a time and in bus
// order, retrying on the Sender's schedule, and stores the endpoint's
// cursor in Cursors after each message. Restarted, it resumes after the
// stored cursor; with a broker whose history outlives the process (Redis,
// NATS) and a durable CursorStore, no message is lost.
//
// Delivery is at least once: a message whose success was not yet recorded
// when the process stopped is sent again, with the same webhook-id, so a
// deduplicating Receiver handles it exactly once.
//
// A message whose schedule is exhausted is dead-lettered (see DeadLetters,
// DeadLetterStore, OnDeadLetter, Redeliver and Recover) and the endpoint
// moves on; so is, at once, a
// message whose attempt failed in a way no retry can fix (see Sender.Send:
// a refused private address, no usable key). A 410 Gone answer
// disables the endpoint until Enable; its cursor stays before the refused
// message.
//
// One dead endpoint cannot starve the others: each endpoint has its own
// goroutine, an attempt holds one of MaxConcurrent slots only while it runs
// (one per endpoint at most, as delivery is ordered), and after
// BreakerThreshold failed attempts in a row the endpoint's circuit opens for
// BreakerCooldown, during which it makes no attempt.
//
// Status reports per endpoint its stored cursor and whether, why and since
// when it is failing; OnError gets the errors of the bus and the
// CursorStore as they happen, with or without a Logger.
//
// With a Store (or Registry, Leases, Attempts and DeadLetterStore), the
// Dispatcher is operated: it follows the endpoints of the Registry live,
// shares them with other instances through leases, and keeps attempts and
// dead letters durably (see "Operating webhooks" in the package
// documentation).
//
// Set Broker; the other fields have useful zero values and must not be
// changed after the first method call. Endpoints can be added and removed
// at any time. A Dispatcher is safe for concurrent use.
type Dispatcher struct {
	// Broker is the bus the messages come from. It must be set.
	Broker bus.Broker
	// Sender signs and posts deliveries. Nil means a zero Sender.
	Sender *Sender
	// Cursors stores each endpoint's position. Nil means a MemoryCursors
	// of this Dispatcher.
	Cursors CursorStore
	// MaxConcurrent caps the attempts in flight over all endpoints. Zero
	// means DefaultMaxConcurrent.
	MaxConcurrent int
	// BreakerThreshold is how many failed attempts in a row open an
	// endpoint's circuit. Zero means DefaultBreakerThreshold.
	BreakerThreshold int
	// BreakerCooldown is how long an open circuit stays open. Zero means
	// DefaultBreakerCooldown.
	BreakerCooldown time.Duration
	// DisableAfter disables an endpoint whose deliveries have failed
	// without a success for this long, as the instance delivering it saw
	// them: its delivery stops at the message it was trying (which is not
	// dead-lettered), the endpoint is disabled, in the Registry for one of
	// the Registry, and OnError hears of it with ErrFailing. Enable it to
	// resume from that message. The count lives in the instance: a restart
	// or another instance taking the endpoint over starts it again. Zero
	// means DefaultDisableAfter (five days); a negative value never
	// disables.
	DisableAfter time.Duration
	// MaxLog is how many recent deliveries per endpoint Deliveries keeps.
	// Zero means DefaultMaxLog.
	MaxLog int
	// MaxDeadLetters caps the dead letters kept; the oldest go first.
	// Zero means DefaultMaxDeadLetters.
	MaxDeadLetters int
	// OnAttempt, when set, is called after every attempt, from the
	// endpoint's goroutine. It must not block.
	OnAttempt func(Attempt)
	// OnDeadLetter, when set, is called for every dead letter. It must
	// not block.
	OnDeadLetter func(DeadLetter)
	// OnCursorExpired, when set, is called when an endpoint's position has
	// left the bus's history, so messages between cursor and top were
	// never delivered to it. The endpoint goes on after top. It is called
	// from the endpoint's goroutine and must not block. The loss is also
	// logged.
	OnCursorExpired func(endpointID, topic, cursor, top string)
	// OnError, when set, is called with every error of the bus or of the
	// CursorStore that keeps an endpoint from making progress, each time it
	// happens: the endpoint retries the step with backoff, so a store that
	// keeps failing is reported again on every retry. It also gets the
	// errors of Leases, Attempts, DeadLetterStore and Registry; those not
	// of one endpoint (following or pruning) come with endpointID "". It
	// is called from the endpoint's goroutine (or the follower's) and
	// must not block. Status tells whether the
	// endpoint is failing still. (Failed attempts go to OnAttempt, dead
	// letters to OnDeadLetter, lost messages to OnCursorExpired.)
	OnError func(endpointID string, err error)
	// Logger receives errors of the bus and the cursor store and dead
	// letters. Nil means no logging; OnError and Status still report
	// them.
	Logger *slog.Logger
	// Store, when set, is used for each of Cursors, Registry, Leases,
	// Attempts and DeadLetterStore that is nil: one store for everything
	// the Dispatcher persists.
	Store Store
	// Registry, when set, is followed live: its endpoints are delivered
	// beside those of Add. A created or enabled endpoint starts, an
	// updated one restarts with its new configuration (after its stored
	// cursor), a disabled or deleted one stops, within RegistryPoll of the
	// change, and at once for changes made through PutEndpoint,
	// DeleteEndpoint and Enable of this Dispatcher. An endpoint answering
	// 410 Gone is disabled in the Registry, for every instance.
	Registry Registry
	// RegistryPoll is how often the Registry's Revision is read. Zero
	// means DefaultRegistryPoll.
	RegistryPoll time.Duration
	// Leases, when set, lets several Dispatchers (processes) share the
	// endpoints of one store: each endpoint is delivered only by the
	// instance holding its lease, renewed every LeaseTTL/3. An instance
	// that stops releases its leases; one that dies loses them after
	// LeaseTTL, and another instance takes over from the stored cursor.
	// A lease that cannot be renewed stops the endpoint's delivery before
	// its next attempt. Nil means every endpoint is delivered by this
	// instance.
	Leases Leases
	// Instance names this Dispatcher as a lease holder. Empty means a
	// random name.
	Instance string
	// LeaseTTL is how long a lease lasts unless renewed. Zero means
	// DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Attempts, when set, receives every attempt (see AttemptLog), with
	// Message and Type set. A failed write is reported to OnError and the
	// delivery goes on.
	Attempts AttemptLog
	// DeadLetterStore, when set, keeps the dead letters durably, beside
	// the recent ones DeadLetters returns; Recover and Redeliver read it.
	DeadLetterStore DeadLetterStore
	// Retention, when positive, is how long attempts and dead letters are
	// kept: older ones are pruned from Attempts and DeadLetterStore while
	// Run runs.
	Retention time.Duration
	// Metrics, when set, receives the Dispatcher's events, with Transport
	// "webhook": WebhookAttempt per POST, WebhookRetry per retry
	// scheduled, WebhookDeadLetter, WebhookBreaker per transition of an
	// endpoint's circuit, Lag after each delivered message (which costs a
	// Broker.Top call) and CursorStoreError per failed Load ("load") or
	// Save ("save"). Nil reports nothing and costs nothing.
	Metrics metrics.Recorder

	once      sync.Once
	sender    *Sender
	cursors   CursorStore
	registry  Registry
	leases    Leases
	attempts  AttemptLog
	dlStore   DeadLetterStore
	instance  string
	syncMu    sync.Mutex    // serialises sync
	reg       registryState // guarded by syncMu
	sem       chan struct{}
	notify    chan struct{}
	mu        sync.Mutex
	running   bool
	endpoints map[string]*endpoint
	dead      []DeadLetter
}

type endpoint struct {
	ep        Endpoint
	cancel    context.CancelFunc // set while its goroutine runs
	done      chan struct{}      // closed when its goroutine ends
	disabled  bool
	started   bool // by this Run; cleared by Enable
	failures  int
	openUntil time.Time
	log       []*DeliveryLog
	cursor    string         // the position last stored
	breaker   string         // the circuit's state, as reported to Metrics; "" is closed
	failing   [nSteps]streak // failures going on, per step
	stopping  bool           // failing for DisableAfter: its deliveries stop
	limiter   *tokenBucket   // the endpoint's rate limit; nil for none
	// Of an endpoint of the Registry: its Version, and the configuration
	// (nil for an endpoint of Add).
	config *EndpointConfig
	// leaseUntil is when the lease on the endpoint ends unless renewed;
	// zero without Leases.
	leaseUntil time.Time
}

func (d *Dispatcher) init() {
	d.once.Do(func() {
		d.sender = d.Sender
		if d.sender == nil {
			d.sender = &Sender{}
		}
		d.cursors, d.registry, d.leases, d.attempts, d.dlStore = d.Cursors, d.Registry, d.Leases, d.Attempts, d.DeadLetterStore
		if d.Store != nil {
			d.cursors = cmp.Or[CursorStore](d.cursors, d.Store)
			d.registry = cmp.Or[Registry](d.registry, d.Store)
			d.leases = cmp.Or[Leases](d.leases, d.Store)
			d.attempts = cmp.Or[AttemptLog](d.attempts, d.Store)
			d.dlStore = cmp.Or[DeadLetterStore](d.dlStore, d.Store)
		}
		if d.cursors == nil {
			d.cursors = &MemoryCursors{}
		}
		d.instance = d.Instance
		if d.instance == "" {
			d.instance = randomInstance()
		}
		n := d.MaxConcurrent
		if n <= 0 {
			n = DefaultMaxConcurrent
		}
		d.sem = make(chan struct{}, n)
		d.notify = make(chan struct{}, 1)
		d.endpoints = make(map[string]*endpoint)
	})
}

// Add registers an endpoint. If the Dispatcher is running, delivery to it
// starts at once: after its stored cursor, or, the first time, from
// ep.From.
func (d *Dispatcher) Add(ep Endpoint) error {
	d.init()
	if ep.ID == "" {
		return errors.New("webhook: endpoint without ID")
	}
	if err := bus.ValidateTopic(ep.Topic); err != nil {
		return fmt.Errorf("webhook: endpoint %q: %w", ep.ID, err)
	}
	u, err := url.Parse(ep.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook: endpoint %q: URL must be absolute http or https", ep.ID)
	}
	if ep.From != "" && ep.From != bus.Oldest {
		if _, err := bus.ParseID(ep.From); err != nil {
			return fmt.Errorf("webhook: endpoint %q: From: %w", ep.ID, err)
		}
	}
	if len(ep.Keys) == 0 {
		return fmt.Errorf("webhook: endpoint %q: %w", ep.ID, ErrNoKeys)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.endpoints[ep.ID]; ok {
		return fmt.Errorf("webhook: endpoint %q already registered", ep.ID)
	}
	ep.Types = append([]string(nil), ep.Types...)
	d.endpoints[ep.ID] = d.newEndpoint(ep)
	d.wake()
	return nil
}

// newEndpoint returns the state of ep, with its rate limit.
func (d *Dispatcher) newEndpoint(ep Endpoint) *endpoint {
	return &endpoint{ep: ep, limiter: newTokenBucket(ep.RateLimit, ep.Burst, time.Now)}
}

// Remove unregisters an endpoint of Add and waits for its delivery in
// progress to stop. Its stored cursor is kept, so adding it again
// resumes. An endpoint of the Registry is removed with DeleteEndpoint.
func (d *Dispatcher) Remove(id string) error {
	d.init()
	d.mu.Lock()
	e, ok := d.endpoints[id]
	switch {
	case !ok:
		d.mu.Unlock()
		return ErrUnknownEndpoint
	case e.config != nil:
		d.mu.Unlock()
		return fmt.Errorf("webhook: endpoint %q belongs to the Registry: delete it there", id)
	}
	delete(d.endpoints, id)
	d.mu.Unlock()
	d.stop(e)
	return nil
}

// stop ends the goroutine of an endpoint taken out of d.endpoints and
// waits for it.
func (d *Dispatcher) stop(e *endpoint) {
	d.mu.Lock()
	cancel, done := e.cancel, e.done
	closed := d.closeBreaker(e)
	d.mu.Unlock()
	d.report(closed)
	if cancel != nil {
		cancel()
		<-done
	}
}

// Enable resumes delivery to an endpoint disabled by a 410 Gone answer,
// from the message it refused. An endpoint of the Registry is enabled in
// the Registry, for every instance (see EnableEndpoint).
func (d *Dispatcher) Enable(id string) error {
	d.init()
	d.mu.Lock()
	e, ok := d.endpoints[id]
	if !ok {
		d.mu.Unlock()
		return ErrUnknownEndpoint
	}
	if e.config != nil {
		d.mu.Unlock()
		return d.EnableEndpoint(context.Background(), id)
	}
	e.disabled, e.started, e.failures, e.openUntil = false, false, 0, time.Time{}
	e.failing[stepSend] = streak{} // DisableAfter counts from here
	e.stopping = false
	closed := d.closeBreaker(e)
	d.wake()
	d.mu.Unlock()
	d.report(closed)
	return nil
}

// Disabled reports whether an endpoint is disabled by a 410 Gone answer.
func (d *Dispatcher) Disabled(id string) (bool, error) {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.endpoints[id]
	if !ok {
		return false, ErrUnknownEndpoint
	}
	return e.disabled, nil
}

func (d *Dispatcher) wake() {
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then stops every endpoint's goroutine and
// returns nil. It returns an error at once when Broker is nil or the
// Dispatcher is already running. The caller owns the goroutine Run blocks;
// it may call Run again after it returned.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.init()
	if d.Broker == nil {
		return errors.New("webhook: Dispatcher.Broker is nil")
	}
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return errors.New("webhook: Dispatcher is already running")
	}
	d.running = true
	for _, e := range d.endpoints {
		e.started = false
	}
	d.mu.Unlock()

	var wg sync.WaitGroup
	if d.registry != nil {
		wg.Go(func() { d.follow(ctx) })
	}
	if d.Retention > 0 {
		wg.Go(func() { d.prune(ctx) })
	}
	for {
		d.mu.Lock()
		for _, e := range d.endpoints {
			if e.cancel == nil && !e.disabled && !e.started {
				e.started = true
				ectx, cancel := context.WithCancel(ctx)
				e.cancel, e.done = cancel, make(chan struct{})
				wg.Go(func() { d.serve(ectx, e) })
			}
		}
		d.mu.Unlock()
		select {
		case <-d.notify:
			continue
		case <-ctx.Done():
		}
		break
	}
	wg.Wait()
	d.sender.CloseIdleConnections()
	d.mu.Lock()
	d.running = false
	d.mu.Unlock()
	return nil
}

// serve is the goroutine of one endpoint. With Leases, it delivers while
// it holds the endpoint's lease, and waits for the lease again when it
// loses it.
func (d *Dispatcher) serve(ctx context.Context, e *endpoint) {
	defer func() {
		d.mu.Lock()
		e.cancel()
		e.cancel = nil
		close(e.done)
		d.mu.Unlock()
		d.wake() // Enable may have come meanwhile: let Run look again
	}()
	if d.leases == nil {
		d.run(ctx, e)
		return
	}
	key := cursorKey(e.ep)
	for {
		lctx, end, ok := d.acquire(ctx, e, key)
		if !ok {
			return
		}
		final := d.run(lctx, e)
		lost := ctx.Err() == nil && !final
		end()
		if !lost {
			d.releaseLease(ctx, e, key)
			return
		}
		d.logError(ctx, "lease lost", e.ep.ID, errLeaseLost)
	}
}

func cursorKey(ep Endpoint) string { return ep.ID + "|" + ep.Topic }

// run delivers to the endpoint until ctx is done (false) or the endpoint
// stops for good (true): it is disabled, or the bus is closed.
func (d *Dispatcher) run(ctx context.Context, e *endpoint) bool {
	ep := e.ep
	key := cursorKey(ep)
	b := retry.NewBackOff(100*time.Millisecond, 30*time.Second)
	var cursor string
	for {
		c, st, what, err := d.startAt(ctx, e, key)
		if err == nil {
			cursor = c
			break
		}
		if ctx.Err() != nil {
			return false
		}
		d.failed(ctx, e, st, what, err)
		if errors.Is(err, bus.ErrClosed) {
			return true
		}
		if sleep(ctx, b.NextBackOff()) != nil {
			return false
		}
	}
	for ctx.Err() == nil {
		sub, err := d.Broker.Subscribe(ctx, ep.Topic, cursor)
		if err == nil {
			b.Reset()
			d.succeeded(e, stepBus)
			var stop, final bool
			cursor, stop, final = d.drain(ctx, e, sub, key, cursor)
			_ = sub.Close()
			if stop {
				return final
			}
			err = sub.Err()
		}
		switch {
		case ctx.Err() != nil:
			return false
		case errors.Is(err, bus.ErrClosed):
			return true
		case errors.Is(err, bus.ErrCursorExpired):
			// Messages were lost from the bus before they could be
			// delivered: say so loudly and go on from the top.
			top, _ := bus.TopOf(err)
			d.logError(ctx, "messages lost, cursor expired", ep.ID, err)
			if d.OnCursorExpired != nil {
				d.OnCursorExpired(ep.ID, ep.Topic, cursor, top)
			}
			if top != "" {
				cursor = top
				d.save(ctx, e, key, cursor)
			}
		case err != nil && !errors.Is(err, bus.ErrSlowConsumer):
			d.failed(ctx, e, stepBus, "subscribe", err)
			if sleep(ctx, b.NextBackOff()) != nil {
				return false
			}
		}
	}
	return false
}

// startAt returns where the endpoint starts: its stored cursor or, the
// first time, ep.From or the topic's top, stored at once. On error it says
// which step failed.
func (d *Dispatcher) startAt(ctx context.Context, e *endpoint, key string) (cursor string, st step, what string, err error) {
	cursor, err = d.cursors.Load(ctx, key)
	if err != nil {
		d.storeError(ctx, "load")
		return "", stepStore, "load cursor", err
	}
	if cursor != "" {
		d.stored(e, cursor)
		return cursor, 0, "", nil
	}
	if cursor = e.ep.From; cursor == "" {
		if cursor, err = d.Broker.Top(ctx, e.ep.Topic); err != nil {
			return "", stepBus, "read top", err
		}
		d.succeeded(e, stepBus)
	}
	if err = d.cursors.Save(ctx, key, cursor); err != nil {
		d.storeError(ctx, "save")
		return "", stepStore, "save cursor", err
	}
	d.stored(e, cursor)
	return cursor, 0, "", nil
}

// save stores the endpoint's cursor, recording how it went.
func (d *Dispatcher) save(ctx context.Context, e *endpoint, key, cursor string) {
	if err := d.cursors.Save(ctx, key, cursor); err != nil {
		d.storeError(ctx, "save")
		if ctx.Err() == nil {
			d.failed(ctx, e, stepStore, "save cursor", err)
		}
		return
	}
	d.stored(e, cursor)
}

// drain delivers the messages of sub and returns the new cursor, whether
// the endpoint's delivery must stop, and whether for good (the endpoint
// is disabled).
//
// Up to the endpoint's MaxConcurrent messages are delivered at once, each
// in its own goroutine when it is above 1; the cursor only passes a
// message once it and every message before it are done, so after a stop
// the endpoint resumes at the oldest message not done.
func (d *Dispatcher) drain(ctx context.Context, e *endpoint, sub bus.Subscription, key, cursor string) (string, bool, bool) {
	// Half of the Dispatcher's slots at most, so that an endpoint whose
	// attempts hang cannot hold them all.
	limit := min(max(1, e.ep.MaxConcurrent), max(1, cap(d.sem)/2))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		win         []*pending // from the oldest message not done, in bus order
		started     int        // deliveries in win
		stop, final bool
	)
	// pop waits for the oldest message of the window and moves the cursor
	// past it, unless its delivery ended the endpoint's delivery.
	pop := func() {
		p := win[0]
		<-p.done
		win = win[1:]
		if p.match {
			started--
		}
		if stop {
			return
		}
		switch {
		case ctx.Err() != nil, errors.Is(p.err, errLeaseLost):
			stop = true
		case errors.Is(p.err, ErrGone), errors.Is(p.err, ErrFailing):
			stop, final = true, true
			d.mu.Lock()
			e.disabled = true
			d.mu.Unlock()
			reason := metrics.OutcomeGone
			if errors.Is(p.err, ErrFailing) {
				reason = metrics.ReasonFailing
				d.logError(ctx, "endpoint disabled", e.ep.ID, p.err)
				if d.OnError != nil {
					d.OnError(e.ep.ID, p.err)
				}
			}
			if d.Metrics != nil {
				d.Metrics.Record(metrics.Event{Kind: metrics.WebhookDisabled, Transport: transport, Topic: e.ep.Topic, Outcome: reason})
			}
			d.disableInRegistry(ctx, e)
		}
		if stop {
			cancel() // the deliveries after it stop too, their messages not done
			return
		}
		if p.match && d.Metrics != nil {
			d.lag(ctx, e, p.m.ID)
		}
		cursor = p.m.ID
		// The cursor of skipped messages is saved once per burst.
		if p.match || len(win) == 0 && len(sub.C()) == 0 {
			d.save(ctx, e, key, cursor)
		}
	}
	for !stop {
		var head chan struct{} // nil, never ready, when the window is empty
		if len(win) > 0 {
			head = win[0].done
		}
		var m bus.Message
		var ok bool
		select {
		case m, ok = <-sub.C():
		case <-head:
			pop()
			continue
		}
		if !ok {
			break
		}
		p := &pending{m: m, match: matchType(e.ep.Types, m.Type), done: make(chan struct{})}
		win = append(win, p)
		switch {
		case !p.match:
			close(p.done)
		case limit == 1:
			started++
			p.err = d.deliver(wctx, e, m, MessageID(m), true)
			close(p.done)
		default:
			started++
			go func() {
				defer close(p.done)
				p.err = d.deliver(wctx, e, m, MessageID(m), true)
			}()
		}
		for len(win) > 0 && !stop && (started >= limit || isClosed(win[0].done)) {
			pop()
		}
	}
	for len(win) > 0 {
		pop() // waits for the deliveries in flight
	}
	return cursor, stop, final
}

// A pending message is one of the window of drain.
type pending struct {
	m     bus.Message
	match bool          // it passes the endpoint's filter: it is delivered
	done  chan struct{} // closed when its delivery ended, at once when skipped
	err   error         // how its delivery ended
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func matchType(types []string, t string) bool {
	if len(types) == 0 {
		return true
	}
	for _, p := range types {
		if p == t || p == "*" {
			return true
		}
		if pre, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(t, pre) {
			return true
		}
	}
	return false
}

func (d *Dispatcher) logError(ctx context.Context, what, ep string, err error) {
	if d.Logger != nil {
		d.Logger.ErrorContext(ctx, "webhook dispatcher: "+what, "endpoint", ep, "error", err)
	}
}
