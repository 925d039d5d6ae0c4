package webhookstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pushpull/pushpull/webhook"
	"github.com/redis/go-redis/v9"
)

// putScript creates (ARGV[1] "0") or updates an endpoint whose stored
// version is ARGV[1], lists its ID and increments the revision. Times are
// the server's, "seconds microseconds".
var putScript = redis.NewScript(`
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local want = tonumber(ARGV[1])
if want ~= 0 and v == 0 then return {'notfound'} end
if want ~= v then return {'conflict'} end
local t = redis.call('TIME')
local now = t[1] .. ' ' .. t[2]
local created = redis.call('HGET', KEYS[1], 'created') or now
redis.call('HSET', KEYS[1], 'config', ARGV[2], 'version', tostring(v + 1), 'created', created, 'updated', now)
redis.call('ZADD', KEYS[2], 0, ARGV[3])
redis.call('INCR', KEYS[3])
return {'ok', tostring(v + 1), created, now}
`)

// deleteScript removes an endpoint, unlists it and increments the
// revision; 0 when there was none.
var deleteScript = redis.NewScript(`
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('INCR', KEYS[3])
return 1
`)

// registryKeys returns the keys of endpoint id, of the list of IDs and of
// the revision.
func (s *Store) registryKeys(id string) []string {
	return []string{s.key("endpoint:", id), s.key("endpoints"), s.key("revision")}
}

// PutEndpoint implements webhook.Registry.
func (s *Store) PutEndpoint(ctx context.Context, c webhook.EndpointConfig) (webhook.EndpointConfig, error) {
	if s.client == nil {
		return webhook.EndpointConfig{}, errNoStoreClient
	}
	if err := c.Validate(); err != nil {
		return webhook.EndpointConfig{}, err
	}
	version := c.Version
	c.Version, c.Created, c.Updated = 0, time.Time{}, time.Time{} // kept in their own fields
	sealed, err := s.Secrets.Seal(c)
	if err != nil {
		return webhook.EndpointConfig{}, fmt.Errorf("webhookstore: put endpoint %q: %w", c.ID, err)
	}
	config, err := json.Marshal(sealed)
	if err != nil {
		return webhook.EndpointConfig{}, fmt.Errorf("webhookstore: put endpoint %q: %w", c.ID, err)
	}
	res, err := putScript.Run(ctx, s.client, s.registryKeys(c.ID), version, config, c.ID).StringSlice()
	if err == nil {
		switch res[0] {
		case "notfound":
			err = webhook.ErrEndpointNotFound
		case "conflict":
			err = webhook.ErrConflict
		default:
			err = decodeMeta(&c, res[1], res[2], res[3])
		}
	}
	if err != nil {
		return webhook.EndpointConfig{}, fmt.Errorf("webhookstore: put endpoint %q: %w", c.ID, err)
	}
	return c, nil
}

// decodeMeta sets the version and times of c from their stored forms.
func decodeMeta(c *webhook.EndpointConfig, version, created, updated string) error {
	var err error
	if c.Version, err = strconv.ParseInt(version, 10, 64); err != nil {
		return fmt.Errorf("stored version: %w", err)
	}
	if c.Created, err = parseServerTime(created); err != nil {
		return err
	}
	c.Updated, err = parseServerTime(updated)
	return err
}

// parseServerTime reads "seconds microseconds", the answer of TIME.
func parseServerTime(s string) (time.Time, error) {
	sec, usec, ok := strings.Cut(s, " ")
	a, err1 := strconv.ParseInt(sec, 10, 64)
	b, err2 := strconv.ParseInt(usec, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return time.Time{}, fmt.Errorf("stored time %q is not seconds and microseconds", s)
	}
	return time.Unix(a, b*1000).UTC(), nil
}

// decodeEndpoint reads an endpoint from the fields config, version,
// created and updated of its hash.
func decodeEndpoint(fields []any) (webhook.EndpointConfig, error) {
	var c webhook.EndpointConfig
	var str [4]string
	for i := range str {
		s, ok := fields[i].(string)
		if !ok {
			return c, webhook.ErrEndpointNotFound
		}
		str[i] = s
	}
	if err := json.Unmarshal([]byte(str[0]), &c); err != nil {
		return c, fmt.Errorf("stored endpoint: %w", err)
	}
	return c, decodeMeta(&c, str[1], str[2], str[3])
}

var endpointFields = []string{"config", "version", "created", "updated"}

// GetEndpoint implements webhook.Registry.
func (s *Store) GetEndpoint(ctx context.Context, id string) (webhook.EndpointConfig, error) {
	if s.client == nil {
		return webhook.EndpointConfig{}, errNoStoreClient
	}
	fields, err := s.client.HMGet(ctx, s.key("endpoint:", id), endpointFields...).Result()
	var c webhook.EndpointConfig
	if err == nil {
		c, err = decodeEndpoint(fields)
	}
	if err == nil {
		c, err = s.Secrets.Open(c)
	}
	if err != nil {
		return webhook.EndpointConfig{}, fmt.Errorf("webhookstore: get endpoint %q: %w", id, err)
	}
	return c, nil
}

// DeleteEndpoint implements webhook.Registry. The endpoint's cursor,
// attempts and dead letters stay.
func (s *Store) DeleteEndpoint(ctx context.Context, id string) error {
	if s.client == nil {
		return errNoStoreClient
	}
	n, err := deleteScript.Run(ctx, s.client, s.registryKeys(id), id).Int()
	if err == nil && n == 0 {
		err = webhook.ErrEndpointNotFound
	}
	if err != nil {
		return fmt.Errorf("webhookstore: delete endpoint %q: %w", id, err)
	}
	return nil
}

// ListEndpoints implements webhook.Registry: the IDs from one sorted set
// (all scores 0, so in byte order), then every endpoint in one pipeline.
// An endpoint deleted in between is left out.
func (s *Store) ListEndpoints(ctx context.Context) ([]webhook.EndpointConfig, error) {
	if s.client == nil {
		return nil, errNoStoreClient
	}
	ids, err := s.client.ZRange(ctx, s.key("endpoints"), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("webhookstore: list endpoints: %w", err)
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.key("endpoint:", id), endpointFields...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("webhookstore: list endpoints: %w", err)
	}
	out := make([]webhook.EndpointConfig, 0, len(ids))
	for _, cmd := range cmds {
		c, err := decodeEndpoint(cmd.Val())
		if errors.Is(err, webhook.ErrEndpointNotFound) {
			continue
		}
		if err == nil {
			c, err = s.Secrets.Open(c)
		}
		if err != nil {
			return nil, fmt.Errorf("webhookstore: list endpoints: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// Revision implements webhook.Registry: a counter the scripts increment
// with every change.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if s.client == nil {
		return 0, errNoStoreClient
	}
	n, err := s.client.Get(ctx, s.key("revision")).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("webhookstore: revision: %w", err)
	}
	return n, nil
}
