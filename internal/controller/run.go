package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sr6net/sr6/internal/pm/bus"
	"github.com/sr6net/sr6/internal/store"
	"github.com/sr6net/sr6/internal/topo"
)

// Config is everything a controller needs to run; Run owns what it opens.
type Config struct {
	Network *topo.Network
	Agents  []AgentEndpoint
	// StoreURL is bolt:///path/file.db or etcd://host:port[,...]/prefix.
	StoreURL string
	// BusURL is "" for the embedded NATS JetStream (stored in BusDir) or
	// kafka://host:port[,...]/topic.
	BusURL, BusDir string
	// MarkMask is the IPv6 header bit carrying the alternate-marking
	// color (0: DefaultMarkMask).
	MarkMask uint32
	// ClocksSynced: the nodes' clocks agree, STAMP reports one-way delays.
	ClocksSynced bool
	// Retention is how long measurement results are kept (0: a day).
	Retention time.Duration
	// Listen is the REST API's address; Token its bearer token; TLS, when
	// set, serves it over HTTPS. AllowedHosts and AllowedOrigins are the
	// Host and Origin values the API answers besides loopback ones (DNS
	// rebinding: a page must not reach it under a name of its own).
	Listen         string
	Token          string
	TLS            *tls.Config
	AllowedHosts   []string
	AllowedOrigins []string
	Log            *slog.Logger
	// Serving, when set, is told the REST API's address once it listens.
	Serving func(net.Addr)
}

// Run runs a controller until ctx ends or one of its parts fails: it opens
// the store and the measurement bus, connects the agents, loads the
// policies, and runs the agent pushers, the store follower, the
// measurement processor, result expiry and the REST API side by side. It
// returns the first error of any of them (nil after ctx ends), having
// stopped the others and closed everything it opened.
func Run(ctx context.Context, cfg Config) (err error) {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	if cfg.Network == nil {
		return errors.New("controller: no network")
	}
	if cfg.MarkMask == 0 {
		cfg.MarkMask = DefaultMarkMask
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 24 * time.Hour
	}
	st, err := store.Open(ctx, cfg.StoreURL)
	if err != nil {
		return fmt.Errorf("controller store: %w", err)
	}
	defer closeInto(&err, "store", st.Close)
	agents, err := DialAgents(cfg.Agents, log)
	if err != nil {
		return err
	}
	defer agents.Close()
	c, err := New(cfg.Network, st, agents, log)
	if err != nil {
		return err
	}
	if err := c.Load(ctx); err != nil {
		return err
	}
	b, err := OpenBus(ctx, cfg.BusURL, cfg.BusDir)
	if err != nil {
		return fmt.Errorf("controller bus: %w", err)
	}
	defer closeInto(&err, "bus", b.Close)
	c.SetBus(b)
	c.SetMarkMask(cfg.MarkMask)
	c.SetClocksSynced(cfg.ClocksSynced)
	h, err := c.NewHandler(HandlerConfig{Token: cfg.Token, AllowedHosts: cfg.AllowedHosts, AllowedOrigins: cfg.AllowedOrigins})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	defer lis.Close()

	g, gctx := errgroup.WithContext(ctx)
	// component runs fn until gctx ends; a part that stops on its own
	// while the controller runs is a failure too, so that nothing dies
	// unnoticed.
	component := func(name string, fn func(context.Context) error) {
		g.Go(func() error {
			err := fn(gctx)
			if gctx.Err() != nil {
				return nil
			}
			if err == nil {
				err = errors.New("stopped")
			}
			return fmt.Errorf("controller %s: %w", name, err)
		})
	}
	component("agents", func(ctx context.Context) error { return c.Run(ctx, agents) })
	component("store follower", c.Follow)
	component("measurement processor", func(ctx context.Context) error { return c.Process(ctx, b) })
	component("result expiry", func(ctx context.Context) error {
		c.ExpireResults(ctx, cfg.Retention, time.Minute)
		return nil
	})
	component("REST API", func(ctx context.Context) error {
		log.Info("controller serving", "listen", lis.Addr().String())
		if cfg.Serving != nil {
			cfg.Serving(lis.Addr())
		}
		return Serve(ctx, lis, h, HTTPConfig{TLS: cfg.TLS, Log: log})
	})
	return g.Wait()
}

// OpenBus opens the measurement bus: the embedded NATS JetStream server
// storing in dir when url is "", or the Kafka cluster a kafka:// URL names.
func OpenBus(ctx context.Context, url, dir string) (bus.Bus, error) {
	if url == "" {
		return bus.OpenNATS(ctx, bus.NATSConfig{Dir: dir})
	}
	rest, ok := strings.CutPrefix(url, "kafka://")
	hosts, topic, _ := strings.Cut(rest, "/")
	if !ok || hosts == "" || topic == "" {
		return nil, fmt.Errorf("bus %q: write kafka://host:port[,host:port]/topic, or leave it empty for the embedded bus", url)
	}
	return bus.OpenKafka(ctx, strings.Split(hosts, ","), topic, "sr6-controller")
}

// closeInto closes a resource and keeps its error if none came before.
func closeInto(err *error, what string, close func() error) {
	if cerr := close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("close %s: %w", what, cerr)
	}
}
