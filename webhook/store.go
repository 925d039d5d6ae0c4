package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// A CursorStore keeps the Dispatcher's position per endpoint and topic: the
// ID of the last message handled (delivered, filtered out or
// dead-lettered). Implement it on storage that outlives the process (the
// FileCursors here, or the same Redis or NATS as the bus) so a restarted
// Dispatcher resumes where it stopped.
//
// Implementations must be safe for concurrent use. Save must be durable
// when it returns: the Dispatcher relies on it to not deliver a message
// twice to an endpoint whose receiver does not deduplicate.
type CursorStore interface {
	// Load returns the stored cursor of key, or "" and no error when none
	// was stored.
	Load(ctx context.Context, key string) (string, error)
	// Save stores cursor for key, replacing the previous one.
	Save(ctx context.Context, key, cursor string) error
}

// An IdempotencyStore remembers which events a Receiver has taken or
// handled, by their idempotency keys (see Receiver), so that a duplicate
// delivery never runs the handler twice. Share one store (for example
// Redis SET NX PX) between the instances of a receiver behind a load
// balancer.
//
// Implementations must be safe for concurrent use, and Claim must be atomic:
// of concurrent claims of a free key, exactly one gets Claimed.
type IdempotencyStore interface {
	// Claim takes key for ttl if it is free (never claimed, released, or
	// expired) and returns Claimed; otherwise it returns the key's state.
	Claim(ctx context.Context, key string, ttl time.Duration) (ClaimState, error)
	// Complete marks a claimed key as handled for ttl.
	Complete(ctx context.Context, key string, ttl time.Duration) error
	// Release frees a claimed key so the event can be handled again.
	Release(ctx context.Context, key string) error
}

// A ClaimState is the answer of IdempotencyStore.Claim.
type ClaimState int

const (
	// Claimed means the caller now owns the key and must handle the event,
	// then Complete or Release the key.
	Claimed ClaimState = iota
	// InProgress means another request owns the key and is handling the
	// event right now; its outcome is not known yet.
	InProgress
	// Done means the event was handled already.
	Done
)

// MemoryCursors is a CursorStore in memory: positions survive a restart of
// the Dispatcher within a process, not of the process. The zero value is
// ready to use; it is safe for concurrent use.
type MemoryCursors struct {
	mu sync.Mutex
	m  map[string]string
}

var _ CursorStore = (*MemoryCursors)(nil)

// Load implements CursorStore.
func (s *MemoryCursors) Load(_ context.Context, key string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key], nil
}

// Save implements CursorStore.
func (s *MemoryCursors) Save(_ context.Context, key, cursor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]string)
	}
	s.m[key] = cursor
	return nil
}

// FileCursors is a durable CursorStore: one small file per key in Dir,
// replaced atomically (write, fsync, rename) on every Save. A file is named
// after the SHA-256 of its key ("<hex>.json"), so keys of any length fit,
// and holds the key beside the cursor, so a file that belongs to another
// key is refused rather than misread. Files of the earlier naming (the
// base64 of the key, ending in ".cursor") are still read, and the next Save
// of their key replaces them. It suits a single dispatcher process with a
// local disk; several processes need a shared store. Dir is created on the
// first Save. It is safe for concurrent use.
type FileCursors struct {
	// Dir is the directory holding the cursor files. It must be set.
	Dir string

	mu     sync.Mutex          // serialises writers of one process
	legacy map[string]struct{} // keys whose file of the earlier naming is gone
}

var _ CursorStore = (*FileCursors)(nil)

// cursorFile is the content of a FileCursors file.
type cursorFile struct {
	Key    string `json:"key"`
	Cursor string `json:"cursor"`
}

func (s *FileCursors) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(s.Dir, hex.EncodeToString(sum[:])+".json")
}

// legacyPath is where earlier versions kept the cursor of key. For a long
// key the name is longer than a file system allows, and such a file was
// never written.
func (s *FileCursors) legacyPath(key string) string {
	return filepath.Join(s.Dir, base64.RawURLEncoding.EncodeToString([]byte(key))+".cursor")
}

// Load implements CursorStore.
func (s *FileCursors) Load(_ context.Context, key string) (string, error) {
	if s.Dir == "" {
		return "", errors.New("webhook: FileCursors.Dir is empty")
	}
	p := s.path(key)
	b, err := os.ReadFile(p)
	if err == nil {
		var f cursorFile
		if err := json.Unmarshal(b, &f); err != nil {
			return "", fmt.Errorf("webhook: load cursor: %s: %w", p, err)
		}
		if f.Key != key {
			return "", fmt.Errorf("webhook: load cursor: %s holds the cursor of %q, not of %q", p, trunc(f.Key), trunc(key))
		}
		return f.Cursor, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("webhook: load cursor: %w", err)
	}
	b, err = os.ReadFile(s.legacyPath(key))
	switch {
	case err == nil:
		return string(b), nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENAMETOOLONG):
		return "", nil
	}
	return "", fmt.Errorf("webhook: load cursor: %w", err)
}

// Save implements CursorStore.
func (s *FileCursors) Save(_ context.Context, key, cursor string) error {
	if s.Dir == "" {
		return errors.New("webhook: FileCursors.Dir is empty")
	}
	data, err := json.Marshal(cursorFile{Key: key, Cursor: cursor})
	if err != nil {
		return fmt.Errorf("webhook: save cursor: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("webhook: save cursor: %w", err)
	}
	f, err := os.CreateTemp(s.Dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("webhook: save cursor: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path(key))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("webhook: save cursor: %w", err)
	}
	// The new file now holds the cursor: drop the file of the earlier
	// naming, once per key, so that no stale copy lingers.
	if _, done := s.legacy[key]; !done {
		_ = os.Remove(s.legacyPath(key)) // usually absent, or a name too long to exist
		if s.legacy == nil {
			s.legacy = make(map[string]struct{})
		}
		s.legacy[key] = struct{}{}
	}
	return nil
}

// MemoryIdempotency is an IdempotencyStore in memory, for a single receiver
// process. Expired keys are swept as new ones are claimed. The zero value is
// ready to use; it is safe for concurrent use.
type MemoryIdempotency struct {
	// Clock returns the current time. Nil means time.Now.
	Clock func() time.Time

	mu     sync.Mutex
	m      map[string]claim
	claims int
}

type claim struct {
	done    bool
	expires time.Time
}

var _ IdempotencyStore = (*MemoryIdempotency)(nil)

func (s *MemoryIdempotency) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

// Claim implements IdempotencyStore.
func (s *MemoryIdempotency) Claim(_ context.Context, key string, ttl time.Duration) (ClaimState, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]claim)
	}
	if s.claims++; s.claims%1024 == 0 {
		for k, c := range s.m {
			if !now.Before(c.expires) {
				delete(s.m, k)
			}
		}
	}
	if c, ok := s.m[key]; ok && now.Before(c.expires) {
		if c.done {
			return Done, nil
		}
		return InProgress, nil
	}
	s.m[key] = claim{expires: now.Add(ttl)}
	return Claimed, nil
}

// Complete implements IdempotencyStore.
func (s *MemoryIdempotency) Complete(_ context.Context, key string, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]claim)
	}
	s.m[key] = claim{done: true, expires: now.Add(ttl)}
	return nil
}

// Release implements IdempotencyStore.
func (s *MemoryIdempotency) Release(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// Len returns how many keys are held, expired ones not yet swept included.
func (s *MemoryIdempotency) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
