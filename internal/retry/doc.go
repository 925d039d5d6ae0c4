// Package retry holds the backoff and Retry-After rules that every client and
// the webhook sender share.
package retry
