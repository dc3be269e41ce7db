package controller

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics exposes policy states and loss measurements to Prometheus. It is
// a collector reading the controller's state at scrape time, so nothing is
// counted twice and nothing needs updating on the hot paths.
type metrics struct {
	c                             *Controller
	policyUp, tx, lost, last, rtt *prometheus.Desc
}

func (c *Controller) metricsHandler() http.Handler {
	m := &metrics{c: c,
		policyUp: prometheus.NewDesc("sr6_policy_up", "1 if the policy has a path and is programmed, else 0.", []string{"policy"}, nil),
		tx:       prometheus.NewDesc("sr6_pm_tx_packets_total", "Packets counted at the headend in measured periods.", []string{"session", "policy"}, nil),
		lost:     prometheus.NewDesc("sr6_pm_lost_packets_total", "Packets lost between headend and tail (alternate marking).", []string{"session", "policy"}, nil),
		last:     prometheus.NewDesc("sr6_pm_loss_ratio", "Loss ratio of the last measured period.", []string{"session", "policy"}, nil),
		rtt:      prometheus.NewDesc("sr6_pm_rtt_seconds", "STAMP round trip of the last period.", []string{"session", "policy", "stat"}, nil),
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.policyUp
	ch <- m.tx
	ch <- m.lost
	ch <- m.last
	ch <- m.rtt
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, v := range m.c.Policies() {
		up := 0.0
		if v.Status.State == "up" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(m.policyUp, prometheus.GaugeValue, up, v.Name)
	}
	for _, s := range m.c.Sessions() {
		tx, lost := m.c.pm.Totals(s.Name)
		ch <- prometheus.MustNewConstMetric(m.tx, prometheus.CounterValue, float64(tx), s.Name, s.Policy)
		ch <- prometheus.MustNewConstMetric(m.lost, prometheus.CounterValue, float64(lost), s.Name, s.Policy)
		// The last period's loss over all the policy's segment lists.
		var lastDelay *LossResult
		var lastStart time.Time
		var ptx, plost int64
		for i := range s.Results {
			r := &s.Results[i]
			switch {
			case r.Kind == "delay":
				lastDelay = r
			case r.PeriodStart.After(lastStart):
				lastStart, ptx, plost = r.PeriodStart, int64(r.TxPackets), r.Lost
			case r.PeriodStart.Equal(lastStart):
				ptx, plost = ptx+int64(r.TxPackets), plost+r.Lost
			}
		}
		if !lastStart.IsZero() {
			ratio := 0.0
			if ptx > 0 {
				ratio = float64(plost) / float64(ptx)
			}
			ch <- prometheus.MustNewConstMetric(m.last, prometheus.GaugeValue, ratio, s.Name, s.Policy)
		}
		if lastDelay != nil {
			for stat, v := range map[string]float64{"min": lastDelay.RTTMinMs, "avg": lastDelay.RTTAvgMs, "max": lastDelay.RTTMaxMs, "jitter": lastDelay.JitterMs} {
				ch <- prometheus.MustNewConstMetric(m.rtt, prometheus.GaugeValue, v/1000, s.Name, s.Policy, stat)
			}
		}
	}
}
