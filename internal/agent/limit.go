package agent

import (
	"context"

	"google.golang.org/grpc/status"
)

// Limiter bounds how many agents of one process reconcile at once. A host of a thousand agents
// that the controller pushes to all at once would otherwise hold a
// thousand desired states and route dumps in memory together, and each
// would take so long that the controller's deadline cut it and it was
// pushed again.
type Limiter struct{ slots chan struct{} }

// NewLimiter lets n agents work at once (at least one).
func NewLimiter(n int) *Limiter { return &Limiter{slots: make(chan struct{}, max(1, n))} }

// acquire waits for a slot until ctx ends; release gives it back. A nil
// Limiter does not limit.
func (l *Limiter) acquire(ctx context.Context) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}
