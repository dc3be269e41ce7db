package restv1

import (
	"context"
	"net/http"
	"time"
)

// NodeStatus is what the controller knows of one router's agent: GET
// /v1/nodes lists one per router, in topology order, so that a client (the
// lab benchmark, a UI) can tell when every agent is connected.
type NodeStatus struct {
	Name  string      `json:"name"`
	Agent AgentStatus `json:"agent"`
}

// AgentStatus is the controller's view of a router's agent.
type AgentStatus struct {
	// Connected: the agent's link stream is up (it has sent the state of
	// its links) and the controller's last push reached it.
	Connected bool `json:"connected"`
	// Generation is that of the last desired state the agent applied (0:
	// none yet).
	Generation uint64 `json:"generation"`
	// Since is when Connected last became what it is; zero while the
	// controller has not heard from the agent at all.
	Since time.Time `json:"since"`
	// Error says why the agent is not connected, or what it refused.
	Error string `json:"error,omitempty"`
}

// Nodes lists every router's agent status.
func (c *Client) Nodes(ctx context.Context) ([]NodeStatus, error) {
	var v []NodeStatus
	err := c.do(ctx, http.MethodGet, "/v1/nodes", nil, &v)
	return v, err
}
