package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// errLeaseLost stops a live delivery whose instance no longer holds the
// endpoint's lease.
var errLeaseLost = errors.New("webhook: lease lost")

// storeTimeout bounds a store write made on behalf of a delivery whose
// context may be done already (the attempt happened: record it).
const storeTimeout = 5 * time.Second

func storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
}

func randomInstance() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "dispatcher-" + hex.EncodeToString(b[:])
}

// storeFailed logs an error of Attempts, DeadLetterStore or Registry and
// reports it to OnError.
func (d *Dispatcher) storeFailed(ctx context.Context, id, what string, err error) {
	d.logError(ctx, what, id, err)
	if d.OnError != nil {
		d.OnError(id, fmt.Errorf("webhook: endpoint %q: %s: %w", id, what, err))
	}
}

func (d *Dispatcher) leaseTTL() time.Duration { return durationOr(d.LeaseTTL, DefaultLeaseTTL) }

// acquire waits until this instance holds the lease on key, then renews
// it every LeaseTTL/3 in a goroutine. It returns a context that ends when
// the lease is lost, and the function that stops the renewal; false when
// ctx ended first.
func (d *Dispatcher) acquire(ctx context.Context, e *endpoint, key string) (context.Context, func(), bool) {
	ttl := d.leaseTTL()
	every := ttl / 3
	for {
		if d.renew(ctx, e, key, ttl) {
			break
		}
		if sleep(ctx, every) != nil {
			return nil, nil, false
		}
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sleep(lctx, every) == nil {
			if !d.renew(lctx, e, key, ttl) {
				d.mu.Lock()
				lost := !time.Now().Before(e.leaseUntil)
				d.mu.Unlock()
				if lost || lctx.Err() != nil {
					cancel()
					return
				}
			}
		}
	}()
	return lctx, func() { cancel(); <-done }, true
}

// renew takes or renews the lease and reports whether this instance holds
// it; a refusal ends the lease at once, an error leaves it to expire.
func (d *Dispatcher) renew(ctx context.Context, e *endpoint, key string, ttl time.Duration) bool {
	start := time.Now()
	ok, err := d.leases.AcquireLease(ctx, key, d.instance, ttl)
	if err != nil {
		if ctx.Err() == nil {
			d.failed(ctx, e, stepLease, "acquire lease", err)
		}
		return false
	}
	d.succeeded(e, stepLease)
	d.mu.Lock()
	if ok {
		e.leaseUntil = start.Add(ttl)
	} else {
		e.leaseUntil = time.Time{}
	}
	d.mu.Unlock()
	return ok
}

// releaseLease gives the endpoint's lease up, so another instance takes over
// at once.
func (d *Dispatcher) releaseLease(ctx context.Context, e *endpoint, key string) {
	d.mu.Lock()
	e.leaseUntil = time.Time{}
	d.mu.Unlock()
	sctx, cancel := storeContext(ctx)
	defer cancel()
	if err := d.leases.ReleaseLease(sctx, key, d.instance); err != nil {
		d.storeFailed(ctx, e.ep.ID, "release lease", err)
	}
}

// follow keeps the endpoints in step with the Registry until ctx is done.
func (d *Dispatcher) follow(ctx context.Context) {
	poll := durationOr(d.RegistryPoll, DefaultRegistryPoll)
	for {
		if err := d.sync(ctx, false); err != nil && ctx.Err() == nil {
			d.storeFailed(ctx, "", "follow registry", err)
		}
		if sleep(ctx, poll) != nil {
			return
		}
	}
}

// lastRevision is the Registry revision the endpoints reflect; -1 before
// the first sync. Guarded by syncMu.
type registryState struct {
	synced   bool
	revision int64
}

// sync brings the endpoints in step with the Registry when its revision
// changed since the last sync, or always when force is set.
func (d *Dispatcher) sync(ctx context.Context, force bool) error {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	rev, err := d.registry.Revision(ctx)
	if err != nil {
		return err
	}
	if !force && d.reg.synced && rev == d.reg.revision {
		return nil
	}
	list, err := d.registry.ListEndpoints(ctx)
	if err != nil {
		return err
	}
	d.apply(ctx, list)
	d.reg = registryState{synced: true, revision: rev}
	return nil
}

// apply makes the Registry's endpoints those of list: it stops the
// endpoints deleted or changed, waits for them, then adds the new and
// changed ones.
func (d *Dispatcher) apply(ctx context.Context, list []EndpointConfig) {
	want := make(map[string]EndpointConfig, len(list))
	for _, c := range list {
		want[c.ID] = c
	}
	type change struct {
		old *endpoint
		c   *EndpointConfig
	}
	var changes []change
	var conflicts []string
	d.mu.Lock()
	for id, e := range d.endpoints {
		if e.config == nil {
			if _, ok := want[id]; ok {
				conflicts = append(conflicts, id)
				delete(want, id)
			}
			continue
		}
		c, ok := want[id]
		switch {
		case !ok:
			delete(d.endpoints, id)
			changes = append(changes, change{old: e})
		case c.Version != e.config.Version:
			delete(d.endpoints, id)
			changes = append(changes, change{old: e, c: &c})
		}
		delete(want, id)
	}
	for _, c := range want {
		changes = append(changes, change{c: &c})
	}
	d.mu.Unlock()
	for _, id := range conflicts {
		d.storeFailed(ctx, id, "follow registry", fmt.Errorf("%w: endpoint %q is registered by Add", ErrConflict, id))
	}
	for _, ch := range changes {
		if ch.old != nil {
			d.stop(ch.old)
		}
	}
	for _, ch := range changes {
		if ch.c == nil {
			continue
		}
		ep, err := ch.c.Endpoint()
		if err != nil {
			d.storeFailed(ctx, ch.c.ID, "follow registry", err)
			continue
		}
		e := d.newEndpoint(ep)
		e.config = ch.c
		e.disabled = ch.c.Disabled
		d.mu.Lock()
		if ch.old != nil {
			e.log, e.cursor = ch.old.log, ch.old.cursor
			if !ch.old.disabled || e.disabled {
				// A change of its configuration does not restart the
				// count of DisableAfter; enabling it does.
				e.failing = ch.old.failing
			}
		}
		if _, taken := d.endpoints[ep.ID]; !taken {
			d.endpoints[ep.ID] = e
		}
		d.mu.Unlock()
	}
	d.wake()
}

func (d *Dispatcher) needRegistry() error {
	d.init()
	if d.registry == nil {
		return errors.New("webhook: Dispatcher has no Registry")
	}
	return nil
}

// PutEndpoint creates or updates c in the Registry (see
// Registry.PutEndpoint) and applies the change to this Dispatcher at once;
// the other instances follow within RegistryPoll. Its error is the
// Registry's: should applying the change here fail, that goes to OnError
// and the follower applies it later.
func (d *Dispatcher) PutEndpoint(ctx context.Context, c EndpointConfig) (EndpointConfig, error) {
	if err := d.needRegistry(); err != nil {
		return EndpointConfig{}, err
	}
	c, err := d.registry.PutEndpoint(ctx, c)
	if err != nil {
		return c, err
	}
	d.syncNow(ctx)
	return c, nil
}

// syncNow applies the Registry at once after a change made through this
// Dispatcher.
func (d *Dispatcher) syncNow(ctx context.Context) {
	if err := d.sync(ctx, true); err != nil {
		d.storeFailed(ctx, "", "follow registry", err)
	}
}

// DeleteEndpoint deletes an endpoint from the Registry and stops its
// delivery here at once. Its stored cursor, attempts and dead letters are
// kept.
func (d *Dispatcher) DeleteEndpoint(ctx context.Context, id string) error {
	if err := d.needRegistry(); err != nil {
		return err
	}
	if err := d.registry.DeleteEndpoint(ctx, id); err != nil {
		return err
	}
	d.syncNow(ctx)
	return nil
}

// EnableEndpoint clears Disabled of an endpoint of the Registry, disabled
// by an operator or by a 410 Gone answer, and starts its delivery here at
// once, after its stored cursor.
func (d *Dispatcher) EnableEndpoint(ctx context.Context, id string) error {
	return d.setDisabled(ctx, id, false)
}

// setDisabled sets Disabled of an endpoint of the Registry, retrying on
// concurrent updates.
func (d *Dispatcher) setDisabled(ctx context.Context, id string, disabled bool) error {
	if err := d.needRegistry(); err != nil {
		return err
	}
	for {
		c, err := d.registry.GetEndpoint(ctx, id)
		if err != nil {
			return err
		}
		if c.Disabled == disabled {
			d.syncNow(ctx)
			return nil
		}
		c.Disabled = disabled
		_, err = d.registry.PutEndpoint(ctx, c)
		switch {
		case errors.Is(err, ErrConflict):
			continue
		case err != nil:
			return err
		}
		d.syncNow(ctx)
		return nil
	}
}

// disableInRegistry records a 410 Gone of an endpoint of the Registry
// there, so every instance stops delivering to it.
func (d *Dispatcher) disableInRegistry(ctx context.Context, e *endpoint) {
	if e.config == nil {
		return
	}
	sctx, cancel := storeContext(ctx)
	defer cancel()
	for {
		c, err := d.registry.GetEndpoint(sctx, e.ep.ID)
		if err != nil || c.Disabled || c.Version != e.config.Version {
			return // deleted or changed meanwhile: the change decides
		}
		c.Disabled = true
		if _, err = d.registry.PutEndpoint(sctx, c); !errors.Is(err, ErrConflict) {
			if err != nil {
				d.storeFailed(ctx, e.ep.ID, "disable endpoint", err)
			}
			return
		}
	}
}

// prune removes attempts and dead letters older than Retention, now and
// then, until ctx is done.
func (d *Dispatcher) prune(ctx context.Context) {
	every := min(max(d.Retention/10, time.Second), time.Hour)
	for {
		before := time.Now().Add(-d.Retention)
		if d.attempts != nil {
			if _, err := d.attempts.PruneAttempts(ctx, before); err != nil && ctx.Err() == nil {
				d.storeFailed(ctx, "", "prune attempts", err)
			}
		}
		if d.dlStore != nil {
			if _, err := d.dlStore.PruneDeadLetters(ctx, before); err != nil && ctx.Err() == nil {
				d.storeFailed(ctx, "", "prune dead letters", err)
			}
		}
		d.mu.Lock()
		d.dead = slices.DeleteFunc(d.dead, func(dl DeadLetter) bool { return dl.At.Before(before) })
		d.mu.Unlock()
		if sleep(ctx, every) != nil {
			return
		}
	}
}

// target returns the endpoint id for a recovery: this Dispatcher's, or,
// when it has none by that ID, the Registry's (a disabled one included).
func (d *Dispatcher) target(ctx context.Context, id string) (*endpoint, error) {
	d.mu.Lock()
	e, ok := d.endpoints[id]
	d.mu.Unlock()
	if ok {
		return e, nil
	}
	if d.registry == nil {
		return nil, ErrUnknownEndpoint
	}
	c, err := d.registry.GetEndpoint(ctx, id)
	if err != nil {
		return nil, err
	}
	ep, err := c.Endpoint()
	if err != nil {
		return nil, err
	}
	e = d.newEndpoint(ep)
	e.config = &c
	return e, nil
}

// progressKey is the context key of WithProgress.
type progressKey struct{}

// WithProgress returns a copy of ctx that makes Recover and Replay, run
// with it, call delivered after each message they delivered, with how
// many they have delivered so far. delivered runs on their goroutine and
// must be quick; it lets a caller show the progress of a long recovery or
// replay (package admin's operations do).
func WithProgress(ctx context.Context, delivered func(n int)) context.Context {
	return context.WithValue(ctx, progressKey{}, delivered)
}

// reportProgress tells ctx's WithProgress function, if any, that n
// messages are delivered.
func reportProgress(ctx context.Context, n int) {
	if f, ok := ctx.Value(progressKey{}).(func(int)); ok && f != nil {
		f(n)
	}
}

// Recover redelivers every dead letter of an endpoint dead-lettered at or
// after since, oldest first, each with its original webhook-id so that a
// deduplicating receiver handles it once, and removes each once it is
// delivered. Each goes through the endpoint's rate limit and the Sender's
// full schedule; one that fails again is dead-lettered anew (with a later
// time) and ends Recover with its error, so the order holds. Recover
// blocks until it is done or ctx is; it returns how many it delivered
// (WithProgress reports them as they go).
//
// It reads DeadLetterStore when set, else the dead letters in memory. It
// works on an endpoint of Add or of the Registry, running or not, on any
// instance; with Leases, the live delivery of new messages goes on beside
// it on the instance holding the lease.
func (d *Dispatcher) Recover(ctx context.Context, endpointID string, since time.Time) (int, error) {
	d.init()
	e, err := d.target(ctx, endpointID)
	if err != nil {
		return 0, err
	}
	n := 0
	done := make(map[string]bool)
	for {
		batch, err := d.deadSince(ctx, endpointID, since)
		if err != nil {
			return n, err
		}
		progress := false
		for _, dl := range batch {
			if done[dl.Delivery] {
				continue
			}
			progress = true
			if err := d.deliver(ctx, e, dl.Message, dl.Delivery, false); err != nil {
				return n, fmt.Errorf("webhook: recover %s: %w", dl.Delivery, err)
			}
			done[dl.Delivery] = true
			n++
			reportProgress(ctx, n)
			// Delivered: its dead letter goes even if ctx ends now, or the
			// next recovery would send it again.
			sctx, cancel := storeContext(ctx)
			err := d.forget(sctx, endpointID, dl.Delivery)
			cancel()
			if err != nil {
				return n, err
			}
		}
		if !progress {
			return n, nil
		}
	}
}

// deadSince returns the oldest dead letters of an endpoint at or after
// since.
func (d *Dispatcher) deadSince(ctx context.Context, id string, since time.Time) ([]DeadLetter, error) {
	if d.dlStore != nil {
		return d.dlStore.ListDeadLetters(ctx, DeadLetterQuery{Endpoint: id, Since: since, Limit: MaxQueryLimit})
	}
	q := DeadLetterQuery{Endpoint: id, Since: since}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []DeadLetter
	for _, dl := range d.dead {
		if q.Match(dl) {
			out = append(out, dl)
		}
	}
	slices.SortStableFunc(out, func(a, b DeadLetter) int { return a.At.Compare(b.At) })
	return out, nil
}

// forget removes a delivered dead letter from memory and from the store.
func (d *Dispatcher) forget(ctx context.Context, endpointID, deliveryID string) error {
	d.mu.Lock()
	d.dead = slices.DeleteFunc(d.dead, func(x DeadLetter) bool {
		return x.Endpoint == endpointID && x.Delivery == deliveryID
	})
	d.mu.Unlock()
	if d.dlStore == nil {
		return nil
	}
	err := d.dlStore.RemoveDeadLetter(ctx, endpointID, deliveryID)
	if errors.Is(err, ErrDeadLetterNotFound) {
		return nil // removed by another instance's recovery meanwhile
	}
	return err
}

// Replay delivers again the messages of the endpoint's topic after the
// cursor from up to and including the message to (the top of the history
// when empty) that pass the endpoint's type filter, in order, each with
// its original webhook-id, through the endpoint's rate limit and the
// Sender's full schedule. It reads the bus history (Broker.Read), so from
// must still be in it (bus.Oldest for all of it). It does not move the
// endpoint's cursor. A message that cannot be delivered is dead-lettered
// and ends Replay with its error. Replay blocks until it is done or ctx
// is; it returns how many it delivered (WithProgress reports them as they
// go).
func (d *Dispatcher) Replay(ctx context.Context, endpointID, from, to string) (int, error) {
	d.init()
	if d.Broker == nil {
		return 0, errors.New("webhook: Dispatcher.Broker is nil")
	}
	e, err := d.target(ctx, endpointID)
	if err != nil {
		return 0, err
	}
	var last bus.Position
	if to != "" {
		if last, err = bus.ParseID(to); err != nil {
			return 0, fmt.Errorf("webhook: replay to: %w", err)
		}
	}
	n := 0
	after := from
	for {
		msgs, err := d.Broker.Read(ctx, e.ep.Topic, after, 1000)
		if err != nil {
			return n, fmt.Errorf("webhook: replay: %w", err)
		}
		if len(msgs) == 0 {
			return n, nil
		}
		for _, m := range msgs {
			if to != "" {
				p, err := m.Position()
				if err != nil {
					return n, err
				}
				if p.After(last) {
					return n, nil
				}
			}
			after = m.ID
			if !matchType(e.ep.Types, m.Type) {
				continue
			}
			if err := d.deliver(ctx, e, m, MessageID(m), false); err != nil {
				return n, fmt.Errorf("webhook: replay %s: %w", m.ID, err)
			}
			n++
			reportProgress(ctx, n)
		}
	}
}
