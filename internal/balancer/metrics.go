package balancer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the balancer's Prometheus metrics, in its own registry
// (no global state), served on the admin socket at /metrics.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	seconds     *prometheus.HistogramVec
	rejected    prometheus.Counter
	timeouts    prometheus.Counter
	retries     prometheus.Counter
	unavailable prometheus.Counter
	abandoned   prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zenpatch_balancer_requests_total", Help: "Requests sent to a backend, by backend and status class (error: no response).",
	}, []string{"backend", "class"})
	m.seconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "zenpatch_balancer_request_duration_seconds", Help: "Time from sending a request to a backend until its response was read.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"backend"})
	m.rejected = prometheus.NewCounter(prometheus.CounterOpts{Name: "zenpatch_balancer_queue_rejected_total", Help: "Requests answered 503 because the queue was full."})
	m.timeouts = prometheus.NewCounter(prometheus.CounterOpts{Name: "zenpatch_balancer_queue_timeouts_total", Help: "Requests answered 503 after waiting queue-timeout."})
	m.retries = prometheus.NewCounter(prometheus.CounterOpts{Name: "zenpatch_balancer_retries_total", Help: "Requests sent again to another backend."})
	m.unavailable = prometheus.NewCounter(prometheus.CounterOpts{Name: "zenpatch_balancer_unavailable_total", Help: "Requests answered 503 at once because no backend was up."})
	m.abandoned = prometheus.NewCounter(prometheus.CounterOpts{Name: "zenpatch_balancer_abandoned_total", Help: "Requests not sent to a backend because their client went away while they waited."})
	m.reg.MustRegister(m.requests, m.seconds, m.rejected, m.timeouts, m.retries, m.unavailable, m.abandoned)
	return m
}

var classNames = [6]string{"error", "1xx", "2xx", "3xx", "4xx", "5xx"}

// register binds a backend's per-request counters once, so the request
// path does no label lookups.
func (m *metrics) register(b *Backend) {
	for i, c := range classNames {
		b.classes[i] = m.requests.WithLabelValues(b.Name, c)
	}
	b.seconds = m.seconds.WithLabelValues(b.Name)
}

func (m *metrics) unregister(b *Backend) {
	for _, c := range classNames {
		m.requests.DeleteLabelValues(b.Name, c)
	}
	m.seconds.DeleteLabelValues(b.Name)
}

// gauges exposes live state read under the balancer's lock at scrape time,
// and the object-affinity counters (atomics kept by recordPick).
type gauges struct{ lb *Balancer }

var (
	descOutstanding = prometheus.NewDesc("zenpatch_balancer_backend_outstanding", "Requests a backend is working on.", []string{"backend"}, nil)
	descUp          = prometheus.NewDesc("zenpatch_balancer_backend_up", "1 when the backend takes requests (up, not draining).", []string{"backend"}, nil)
	descCap         = prometheus.NewDesc("zenpatch_balancer_backend_capacity", "Requests a backend may work on now (lower during slow start).", []string{"backend"}, nil)
	descQueue       = prometheus.NewDesc("zenpatch_balancer_queue_length", "Requests waiting for a free backend.", nil, nil)
	descPicks       = prometheus.NewDesc("zenpatch_balancer_affinity_requests_total",
		"Requests served, by backend and placement: home (a key whose home is this backend), spilled (a key whose home is another), nokey.", []string{"backend", "placement"}, nil)
	descBodyMem = prometheus.NewDesc("zenpatch_balancer_body_memory_bytes", "Memory held by request and response bodies (bounded by the body memory budget).", nil, nil)
	descSpool   = prometheus.NewDesc("zenpatch_balancer_spool_bytes", "Bytes in spool files (bodies too big for memory).", nil, nil)
	descSpooled = prometheus.NewDesc("zenpatch_balancer_spooled_bodies_total", "Bodies that went to a spool file.", nil, nil)
)

// Describe implements prometheus.Collector.
func (g gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- descOutstanding
	ch <- descUp
	ch <- descCap
	ch <- descQueue
	ch <- descPicks
	ch <- descBodyMem
	ch <- descSpool
	ch <- descSpooled
}

// Collect implements prometheus.Collector.
func (g gauges) Collect(ch chan<- prometheus.Metric) {
	st := g.lb.Status()
	for _, s := range st.Backends {
		up := 0.0
		if s.State == Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descOutstanding, prometheus.GaugeValue, float64(s.Outstanding), s.Name)
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, s.Name)
		ch <- prometheus.MustNewConstMetric(descCap, prometheus.GaugeValue, float64(s.EffectiveCap), s.Name)
		ch <- prometheus.MustNewConstMetric(descPicks, prometheus.CounterValue, float64(s.Home), s.Name, "home")
		ch <- prometheus.MustNewConstMetric(descPicks, prometheus.CounterValue, float64(s.Spilled), s.Name, "spilled")
		ch <- prometheus.MustNewConstMetric(descPicks, prometheus.CounterValue, float64(s.NoKey), s.Name, "nokey")
	}
	ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(st.Queue))
	bs := g.lb.bodies
	ch <- prometheus.MustNewConstMetric(descBodyMem, prometheus.GaugeValue, float64(bs.mem.Load()))
	ch <- prometheus.MustNewConstMetric(descSpool, prometheus.GaugeValue, float64(bs.spool.Load()))
	ch <- prometheus.MustNewConstMetric(descSpooled, prometheus.CounterValue, float64(bs.spooled.Load()))
}
