package admin

import (
	"context"
	"errors"
	"time"

	"github.com/pushpull/pushpull/webhook"
)

// TEMPORARY until the Dispatcher has Recover and Replay.
type operator interface {
	Recover(ctx context.Context, endpointID string, since time.Time) (int, error)
	Replay(ctx context.Context, endpointID, from, to string) (int, error)
}

type noOps struct{}

func (noOps) Recover(context.Context, string, time.Time) (int, error) { return 0, errors.New("todo") }
func (noOps) Replay(context.Context, string, string, string) (int, error) {
	return 0, errors.New("todo")
}

func ops(d *webhook.Dispatcher) operator {
	if o, ok := any(d).(operator); ok {
		return o
	}
	return noOps{}
}
