package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestRecoverInterceptors: a handler's result passes through untouched; a
// panic becomes codes.Internal naming the method and the panic.
func TestRecoverInterceptors(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name     string
		run      func() error
		wantCode codes.Code
		wantText string
	}{
		{"ok", func() error { return nil }, codes.OK, ""},
		{"an error", func() error { return status.Error(codes.InvalidArgument, "bad state") }, codes.InvalidArgument, "bad state"},
		{"a panic", func() error { panic("index out of range") }, codes.Internal, "/sr6.agent.v1.Agent/X: internal error (the agent recovered from a panic: index out of range)"},
		{"a panic with an error", func() error { panic(errors.New("nil map")) }, codes.Internal, "nil map"},
	}
	unary := recoverUnary(log)
	stream := recoverStream(log)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, uerr := unary(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/sr6.agent.v1.Agent/X"},
				func(context.Context, any) (any, error) { return nil, tc.run() })
			serr := stream(nil, nil, &grpc.StreamServerInfo{FullMethod: "/sr6.agent.v1.Agent/X"},
				func(any, grpc.ServerStream) error { return tc.run() })
			for kind, err := range map[string]error{"unary": uerr, "stream": serr} {
				if got := status.Code(err); got != tc.wantCode {
					t.Errorf("%s: code %s, want %s (%v)", kind, got, tc.wantCode, err)
				}
				if tc.wantText != "" && !strings.Contains(status.Convert(err).Message(), tc.wantText) {
					t.Errorf("%s: %q, want it to contain %q", kind, status.Convert(err).Message(), tc.wantText)
				}
			}
		})
	}
}
