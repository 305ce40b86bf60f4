package loadtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRunCountsAnswersAndFailures(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%10 == 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	progress := 0
	r := Run(context.Background(), Config{URL: srv.URL, Conns: 4, Duration: 300 * time.Millisecond, Every: 50 * time.Millisecond, Progress: func(Result) { progress++ }})
	assert.Greater(t, r.Requests, int64(10))
	assert.Greater(t, r.Failures, int64(0))
	assert.Equal(t, r.Failures, r.ByKind["503"])
	assert.Greater(t, progress, 0)
	assert.LessOrEqual(t, r.P50, r.P99)
	assert.Greater(t, r.RPS(), 0.0)
}

func TestRunReportsRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	r := Run(context.Background(), Config{URL: url, Conns: 1, Duration: 100 * time.Millisecond})
	assert.Equal(t, int64(0), r.Requests)
	assert.Greater(t, r.Failures, int64(0))
}
