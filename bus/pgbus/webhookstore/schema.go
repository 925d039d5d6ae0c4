package webhookstore

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/bus/pgbus"
)

//go:embed schema.sql
var schemaSQL string

// Schema returns the SQL that creates the tables for prefix ("" means
// pgbus.DefaultPrefix), for teams that run their own migrations. Every
// statement is idempotent.
func Schema(prefix string) (string, error) {
	prefix, err := checkPrefix(prefix)
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(schemaSQL, pgbus.DefaultPrefix, prefix), nil
}

// Migrate creates the tables for prefix ("" means pgbus.DefaultPrefix) if
// they do not exist. It is idempotent and safe to run from several
// instances at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, prefix string) error {
	sql, err := Schema(prefix)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "pgbus webhookstore migrate "+prefix); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sql)
		return err
	})
	if err != nil {
		return fmt.Errorf("webhookstore: migrate: %w", err)
	}
	return nil
}

func checkPrefix(prefix string) (string, error) {
	if prefix == "" {
		return pgbus.DefaultPrefix, nil
	}
	if err := pgbus.ValidatePrefix(prefix); err != nil {
		return "", fmt.Errorf("webhookstore: %w", err)
	}
	return prefix, nil
}

// table returns the name of table under prefix, or the prefix's error.
func table(prefix, name string) (string, error) {
	prefix, err := checkPrefix(prefix)
	if err != nil {
		return "", err
	}
	return prefix + name, nil
}
