package restv1

import (
	"fmt"
	"net/http"
	"strings"
)

// Error is the one shape of every error the API answers (400, 401, 403,
// 404, 409, 413, 415, 500): the input at fault (a JSON field such as
// "prefixes[1]", a path parameter such as "name", a header such as
// "authorization"; empty for a server fault), why, and the allowed values
// when there is a fixed set.
type Error struct {
	Field   string   `json:"field"`
	Reason  string   `json:"reason"`
	Allowed []string `json:"allowed,omitempty"`
}

func (e *Error) Error() string {
	msg := e.Reason
	if e.Field != "" {
		msg = e.Field + ": " + e.Reason
	}
	return msg
}

// ErrorBody is the JSON body of an error answer: {"error": {...}}.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// APIError is an error answer as the client sees it: the HTTP status and
// the error body (or the raw text of a body that is not in the shape,
// such as a proxy's).
type APIError struct {
	Status int
	Err    *Error
	Text   string
}

func (e *APIError) Error() string {
	if e.Err != nil {
		msg := e.Err.Error()
		if len(e.Err.Allowed) > 0 {
			msg += fmt.Sprintf(" (allowed: %v)", e.Err.Allowed)
		}
		return msg
	}
	return fmt.Sprintf("controller answered %d %s: %s", e.Status, http.StatusText(e.Status), strings.TrimSpace(e.Text))
}

// NotFound tells whether the answer was 404.
func (e *APIError) NotFound() bool { return e.Status == http.StatusNotFound }
