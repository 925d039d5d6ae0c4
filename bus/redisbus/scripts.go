package redisbus

import "github.com/redis/go-redis/v9"

// publishScript appends a message to a topic's stream and announces it on
// the topic's channel in one step, so the live notification and the history
// carry the same offset and the offsets of a topic are contiguous.
//
// KEYS[1] meta hash {e = epoch, s = top offset, r = replication ID}, KEYS[2] stream.
// ARGV[1] a fresh epoch, used when the meta is missing (new, expired or
// flushed topic: the stream left over, if any, is dropped);
// ARGV[2] history size; ARGV[3] history TTL in ms (0: none); ARGV[4] meta TTL
// in ms; ARGV[5] channel; ARGV[6] the stored record; ARGV[7] the command
// announcing it, PUBLISH or SPUBLISH (sharded PUB/SUB).
//
// The stream entry ID is "<offset>-0" and trimming is exact, so the oldest
// retained offset is read from the first entry. The notification is
// "<epoch> <offset> <record>". Returns {epoch, offset}.
//
// The meta also records the replication ID of the server that wrote it
// (r). Another server (a replica promoted by Sentinel or Redis Cluster,
// whose replication is asynchronous) may miss acknowledged messages of the
// topic: its first publication then starts a new epoch, so every cursor
// taken before is answered with a reset and no offset is handed out twice.
var publishScript = redis.NewScript(`
local rid = string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)') or ''
local meta = redis.call('HMGET', KEYS[1], 'e', 'r')
local e = meta[1]
if not e then
  e = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', e, 's', 0, 'r', rid)
elseif meta[2] ~= rid then
  if meta[2] then e = ARGV[1] end
  redis.call('HSET', KEYS[1], 'e', e, 'r', rid)
end
local off = redis.call('HINCRBY', KEYS[1], 's', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], off .. '-0', 'd', ARGV[6])
if ARGV[3] ~= '0' then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call(ARGV[7], ARGV[5], e .. ' ' .. off .. ' ' .. ARGV[6])
return {e, off}
`)

// readScript reads a topic's position and, optionally, messages, in one
// consistent view. It creates nothing: a topic exists once published to.
//
// KEYS[1] meta, KEYS[2] stream. ARGV[1] "1" to refresh the TTL ARGV[2]
// (ms) of an existing meta; ARGV[3] mode: "" position only,
// "n" the newest ARGV[6] entries, "o" the oldest ARGV[6] entries, "a" the
// entries after offset ARGV[5] of epoch ARGV[4] (ARGV[6] of them at most;
// "0" means all), where the epoch "" is Origin (offset 0 of any epoch,
// served while the topic's first message is retained).
//
// Returns {} for an unknown topic, else {epoch, top, first retained offset,
// status, entries...} where status is "ok" or "expired" (the cursor of mode
// "a" cannot be served whole) and each entry is {id, {field, value, ...}}.
var readScript = redis.NewScript(`
local e = redis.call('HGET', KEYS[1], 'e')
if not e then return {} end
local s = tonumber(redis.call('HGET', KEYS[1], 's'))
if ARGV[1] == '1' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local first = s + 1
local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if #head > 0 then first = tonumber(string.match(head[1][1], '^(%d+)')) end
local out = {e, s, first, 'ok'}
local mode = ARGV[3]
local limit = tonumber(ARGV[6])
local entries = {}
if mode == 'n' then
  if limit > 0 then
    entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', limit)
  else
    entries = redis.call('XREVRANGE', KEYS[2], '+', '-')
  end
elseif mode == 'o' then
  if limit > 0 then
    entries = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', limit)
  else
    entries = redis.call('XRANGE', KEYS[2], '-', '+')
  end
elseif mode == 'a' then
  local o = tonumber(ARGV[5])
  if ARGV[4] == '' then
    if first > 1 then
      out[4] = 'expired'
      return out
    end
    o = 0
  elseif ARGV[4] ~= e or o > s or (o < s and o + 1 < first) then
    out[4] = 'expired'
    return out
  end
  if o < s then
    if limit > 0 then
      entries = redis.call('XRANGE', KEYS[2], (o + 1) .. '-0', '+', 'COUNT', limit)
    else
      entries = redis.call('XRANGE', KEYS[2], (o + 1) .. '-0', '+')
    end
  end
end
for i = 1, #entries do out[4 + i] = entries[i] end
return out
`)
