package pgbus

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaSQL is the schema for DefaultPrefix.
//
//go:embed schema.sql
var schemaSQL string

// MaxPrefixLen is the longest Prefix: the longest name made from it
// ("<prefix>messages") stays within PostgreSQL's 63-byte identifiers.
const MaxPrefixLen = 30

// ValidatePrefix checks a table-name prefix: 1 to MaxPrefixLen bytes of
// lower-case ASCII letters, digits and underscores, not starting with a
// digit, so every name made from it is a plain SQL identifier.
func ValidatePrefix(prefix string) error {
	if prefix == "" || len(prefix) > MaxPrefixLen {
		return fmt.Errorf("pgbus: prefix %q: must be 1 to %d bytes", prefix, MaxPrefixLen)
	}
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		if c >= 'a' && c <= 'z' || c == '_' || c >= '0' && c <= '9' && i > 0 {
			continue
		}
		return fmt.Errorf("pgbus: prefix %q: byte %d is not a lower-case letter, digit or underscore (or starts with a digit)", prefix, i)
	}
	return nil
}

// Schema returns the SQL that creates the broker's tables and functions
// for prefix ("" means DefaultPrefix), for teams that run their own
// migrations. Every statement is idempotent. It is schema.sql of this
// package with the prefix in place.
func Schema(prefix string) (string, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := ValidatePrefix(prefix); err != nil {
		return "", err
	}
	return strings.ReplaceAll(schemaSQL, DefaultPrefix, prefix), nil
}

// Migrate creates the broker's tables and functions for prefix ("" means
// DefaultPrefix) if they do not exist, and replaces the functions with
// this version's. It is idempotent and safe to run from several instances
// at once (a transaction-scoped advisory lock serialises them).
func Migrate(ctx context.Context, pool *pgxpool.Pool, prefix string) error {
	sql, err := Schema(prefix)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "pgbus migrate "+prefix); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sql)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgbus: migrate: %w", err)
	}
	return nil
}

// Migrate runs Migrate on b's Pool with b's Prefix.
func (b *Broker) Migrate(ctx context.Context) error {
	b.init()
	return Migrate(ctx, b.Pool, b.Prefix)
}

// names holds the SQL of a broker, with its prefix in place.
type names struct {
	channel  string // the notification channel
	listen   string
	publish  string
	topics   string // the table names
	messages string
	// reads
	top, after, oldest, newest, tops   string
	expire, expireCandidates, dropIdle string
}

func newNames(prefix string) (names, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := ValidatePrefix(prefix); err != nil {
		return names{}, err
	}
	t, m := prefix+"topics", prefix+"messages"
	n := names{channel: prefix + "bus", topics: t, messages: m}
	n.listen = "LISTEN " + pgx.Identifier{n.channel}.Sanitize()
	n.publish = "SELECT epoch, \"offset\" FROM " + prefix + "publish($1, $2, $3, $4)"
	// One statement, one snapshot: the topic's row and its messages agree.
	const view = `SELECT t.epoch, t.top, t.first, m."offset", m.record FROM %[1]s t
LEFT JOIN LATERAL (SELECT x."offset", x.record FROM %[2]s x WHERE x.topic = t.topic AND %[3]s) m ON true
WHERE t.topic = $1`
	n.top = `SELECT t.epoch, t.top, t.first, NULL::bigint, NULL::bytea FROM ` + t + ` t WHERE t.topic = $1`
	n.after = fmt.Sprintf(view, t, m, `($3 = '' OR t.epoch = $3) AND $2 + 1 >= t.first AND x."offset" > $2 ORDER BY x."offset" LIMIT $4`)
	n.oldest = fmt.Sprintf(view, t, m, `x."offset" >= t.first ORDER BY x."offset" LIMIT $2`)
	n.newest = fmt.Sprintf(view, t, m, `x."offset" >= t.first ORDER BY x."offset" DESC LIMIT $2`)
	n.tops = `SELECT topic, epoch, top FROM ` + t + ` WHERE topic = ANY($1)`
	// Ages are in seconds, judged by the server's clock, the one that wrote
	// the rows.
	n.expire = "SELECT " + prefix + "expire($1, clock_timestamp() - $2 * interval '1 second', $3)"
	n.expireCandidates = `SELECT t.topic FROM ` + t + ` t JOIN ` + m + ` x ON x.topic = t.topic AND x."offset" = t.first
WHERE t.topic > $1 AND x.at < clock_timestamp() - $2 * interval '1 second' ORDER BY t.topic LIMIT $3`
	n.dropIdle = `DELETE FROM ` + t + ` WHERE topic IN (SELECT topic FROM ` + t + `
WHERE first > top AND touched < clock_timestamp() - $1 * interval '1 second' LIMIT $2)
AND first > top AND touched < clock_timestamp() - $1 * interval '1 second'`
	return n, nil
}
