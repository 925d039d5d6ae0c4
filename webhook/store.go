package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
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
// replaced atomically (write, fsync, rename) on every Save. It suits a
// single dispatcher process with a local disk; several processes need a
// shared store. Dir is created on the first Save. It is safe for concurrent
// use.
type FileCursors struct {
	// Dir is the directory holding the cursor files. It must be set.
	Dir string

	mu sync.Mutex // serialises writers of one process
}

var _ CursorStore = (*FileCursors)(nil)

func (s *FileCursors) path(key string) string {
	return filepath.Join(s.Dir, base64.RawURLEncoding.EncodeToString([]byte(key))+".cursor")
}

// Load implements CursorStore.
func (s *FileCursors) Load(_ context.Context, key string) (string, error) {
	if s.Dir == "" {
		return "", errors.New("webhook: FileCursors.Dir is empty")
	}
	b, err := os.ReadFile(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("webhook: load cursor: %w", err)
	}
	return string(b), nil
}

// Save implements CursorStore.
func (s *FileCursors) Save(_ context.Context, key, cursor string) error {
	if s.Dir == "" {
		return errors.New("webhook: FileCursors.Dir is empty")
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
	_, err = f.WriteString(cursor)
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
	return nil
}
