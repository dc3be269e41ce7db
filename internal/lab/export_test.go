package lab

import "context"

// WithFault makes the step of a topology change called step fail (see
// applySteps), for the tests of a change that stops half way.
func WithFault(ctx context.Context, step string) context.Context {
	return context.WithValue(ctx, faultKey{}, step)
}

// StateNetwork is the network a lab's state plans (with its pins).
var StateNetwork = stateNetwork
