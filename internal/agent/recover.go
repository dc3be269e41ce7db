package agent

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// recovered turns a panic of a handler into codes.Internal, logged with its
// stack: in an agent host, the other routers' agents keep serving.
func recovered(log *slog.Logger, method string, err *error) {
	v := recover()
	if v == nil {
		return
	}
	log.Error("gRPC handler panicked", "method", method, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	*err = status.Errorf(codes.Internal, "%s: internal error (the agent recovered from a panic: %v)", method, v)
}

func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer recovered(log, info.FullMethod, &err)
		return handler(ctx, req)
	}
}

func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer recovered(log, info.FullMethod, &err)
		return handler(srv, ss)
	}
}
