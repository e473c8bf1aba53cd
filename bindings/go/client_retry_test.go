package fractal

// Retries through the Client: Retry-After, the seeded backoff, giving up,
// what is never retried, timeouts and cancellation.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetryAfterIsHonouredThen200(t *testing.T) {
	srv := newScripted(t,
		reply{status: 503, headers: map[string]string{"Retry-After": "1"}, body: downBody},
		reply{status: 429, headers: map[string]string{"Retry-After": "1"}, body: rateBody},
		ok200())
	// A large computed backoff ceiling: only Retry-After can explain 1 s gaps.
	c := newTestClient(t, srv.URL, WithHMACKey([]byte("k")),
		WithRetry(RetryPolicy{MaxRetries: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	res, err := c.Submit(context.Background(), mustBuild(t))
	if err != nil || res.Status != 200 {
		t.Fatalf("Submit = %+v, %v", res, err)
	}
	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i := 1; i < 3; i++ {
		if gap := reqs[i].at.Sub(reqs[i-1].at); gap < 990*time.Millisecond {
			t.Errorf("retry %d came %v after the previous attempt; Retry-After asked 1 s", i, gap)
		}
		if string(reqs[i].body) != string(reqs[0].body) {
			t.Errorf("retry %d sent a different body", i)
		}
	}
}

// expectedDelays is the backoff schedule golden/client/protocol.json gives for a
// seed and a policy of 3 retries (the vectors are checked by an independent
// oracle, so this test writes no splitmix64 of its own).
func expectedDelays(t *testing.T, seed uint64, base, cap uint64) []time.Duration {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(goldenDir, "client", "protocol.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		TestGroups []struct {
			Type  string `json:"type"`
			Tests []struct {
				Seed   string `json:"seed"`
				Policy struct {
					MaxRetries  uint64 `json:"max_retries"`
					BaseDelayMs uint64 `json:"base_delay_ms"`
					MaxDelayMs  uint64 `json:"max_delay_ms"`
				} `json:"policy"`
				Calls []struct {
					DelayMs *uint64 `json:"delay_ms"`
				} `json:"calls"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	for _, g := range file.TestGroups {
		for _, c := range g.Tests {
			p := c.Policy
			if g.Type != "backoff" || c.Seed != strconv.FormatUint(seed, 10) || p.MaxRetries != 3 || p.BaseDelayMs != base || p.MaxDelayMs != cap {
				continue
			}
			var out []time.Duration
			for _, call := range c.Calls {
				if call.DelayMs != nil {
					out = append(out, time.Duration(*call.DelayMs)*time.Millisecond)
				}
			}
			return out
		}
	}
	t.Fatalf("client/protocol.json has no backoff case for seed %d, %d/%d ms", seed, base, cap)
	return nil
}

func TestBackoffFollowsTheSeededSchedule(t *testing.T) {
	down := reply{status: 503, body: downBody}
	srv := newScripted(t, down, down, down, ok200())
	c := newTestClient(t, srv.URL,
		WithRetry(RetryPolicy{MaxRetries: 3, BaseDelay: 200 * time.Millisecond, MaxDelay: 500 * time.Millisecond}),
		WithJitterSeed(42))
	if _, err := c.Submit(context.Background(), mustBuild(t)); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	want := expectedDelays(t, 42, 200, 500)
	for i, d := range want {
		// A timer never fires early: each gap is at least the scheduled delay.
		if gap := reqs[i+1].at.Sub(reqs[i].at); gap < d-time.Millisecond {
			t.Errorf("retry %d came after %v, the schedule says %v", i+1, gap, d)
		}
	}
}

func TestGivesUpAfterMaxRetries(t *testing.T) {
	t.Run("503", func(t *testing.T) {
		srv := newScripted(t, reply{status: 503, headers: map[string]string{"Retry-After": "0"}, body: downBody})
		c := newTestClient(t, srv.URL, WithRetry(RetryPolicy{MaxRetries: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
		_, err := c.Submit(context.Background(), mustBuild(t))
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != 503 || ae.Code != "store_unavailable" || ae.Message != "try later" || ae.Body != downBody {
			t.Fatalf("err = %#v", err)
		}
		if KindOf(err) != KindAPI || StatusOf(err) != 503 {
			t.Fatalf("kind %q status %d", KindOf(err), StatusOf(err))
		}
		if n := len(srv.requests()); n != 3 {
			t.Fatalf("%d requests, want 1 + 2 retries", n)
		}
	})
	t.Run("429", func(t *testing.T) {
		srv := newScripted(t, reply{status: 429, headers: map[string]string{"Retry-After": "0"}, body: rateBody})
		c := newTestClient(t, srv.URL, WithRetry(RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
		_, err := c.Submit(context.Background(), mustBuild(t))
		var re *RateLimitedError
		if !errors.As(err, &re) || re.Message != "slow down" || re.RetryAfter != 0 || !errors.Is(err, ErrRateLimited) {
			t.Fatalf("err = %#v", err)
		}
		if KindOf(err) != KindRateLimited || StatusOf(err) != 429 {
			t.Fatalf("kind %q status %d", KindOf(err), StatusOf(err))
		}
		if n := len(srv.requests()); n != 2 {
			t.Fatalf("%d requests, want 2", n)
		}
	})
	t.Run("Retry-After longer than allowed", func(t *testing.T) {
		srv := newScripted(t, reply{status: 429, headers: map[string]string{"Retry-After": "120"}, body: rateBody})
		c := newTestClient(t, srv.URL, fast)
		start := time.Now()
		_, err := c.Submit(context.Background(), mustBuild(t))
		var re *RateLimitedError
		if !errors.As(err, &re) || re.RetryAfter != 120*time.Second {
			t.Fatalf("err = %#v", err)
		}
		if n := len(srv.requests()); n != 1 || time.Since(start) > 30*time.Second {
			t.Fatalf("%d requests; a 120 s Retry-After must end the call, not be slept", n)
		}
	})
}

func TestClientErrorsAreNeverRetried(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		check  func(error) bool
		kind   Kind
	}{
		{401, sigBody, func(err error) bool {
			var se *SignatureError
			return errors.As(err, &se) && se.Code == "signature_invalid" && errors.Is(err, ErrSignature) &&
				errors.Is(err, ErrSignatureInvalid) && !errors.Is(err, ErrSignatureMissing)
		}, KindSignature},
		{400, invalidBody, func(err error) bool {
			var ve *ValidationError
			return errors.As(err, &ve) && ve.Status == 400 && ve.Code == "invalid_field" && ve.Message == "invalid field `r`" &&
				errors.Is(err, ErrValidation) && errors.Is(err, ErrInvalidField)
		}, KindInvalid},
		{403, tenantBody, func(err error) bool {
			var ae *APIError
			return errors.As(err, &ae) && ae.Status == 403 && ae.Code == "unknown_tenant"
		}, KindAPI},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := newScripted(t, reply{status: tc.status, body: tc.body}, ok200())
			c := newTestClient(t, srv.URL, fast)
			_, err := c.Submit(context.Background(), mustBuild(t))
			if !tc.check(err) {
				t.Fatalf("err = %#v", err)
			}
			if KindOf(err) != tc.kind || StatusOf(err) != tc.status {
				t.Fatalf("kind %q status %d", KindOf(err), StatusOf(err))
			}
			if n := len(srv.requests()); n != 1 {
				t.Fatalf("%d requests: a %d must not be retried", n, tc.status)
			}
		})
	}
}

func TestPerAttemptTimeout(t *testing.T) {
	srv := newScripted(t, reply{status: 200, body: okBody, delay: 10 * time.Second})
	c := newTestClient(t, srv.URL, WithTimeout(200*time.Millisecond),
		WithRetry(RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	start := time.Now()
	_, err := c.Submit(context.Background(), mustBuild(t))
	var te *TransportError
	if !errors.As(err, &te) || !te.Timeout || !errors.Is(err, ErrTimeout) || KindOf(err) != KindTimeout {
		t.Fatalf("err = %#v", err)
	}
	if n := len(srv.requests()); n != 2 {
		t.Fatalf("%d requests, want 2 (a timed-out attempt is retried)", n)
	}
	if el := time.Since(start); el > 8*time.Second {
		t.Fatalf("took %v: the per-attempt timeout was not applied", el)
	}
}

func TestContextEndsTheCallPromptly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reply  reply
		cancel bool // cancel the context instead of letting its deadline pass
		want   error
	}{
		{"cancel during an attempt", reply{status: 200, body: okBody, delay: 20 * time.Second}, true, context.Canceled},
		{"cancel while waiting to retry", reply{status: 503, headers: map[string]string{"Retry-After": "30"}, body: downBody}, true, context.Canceled},
		{"deadline during an attempt", reply{status: 200, body: okBody, delay: 20 * time.Second}, false, context.DeadlineExceeded},
		{"deadline while waiting to retry", reply{status: 429, headers: map[string]string{"Retry-After": "30"}, body: rateBody}, false, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScripted(t, tc.reply)
			c := newTestClient(t, srv.URL)
			var ctx context.Context
			var cancel context.CancelFunc
			if tc.cancel {
				ctx, cancel = context.WithCancel(context.Background())
				time.AfterFunc(400*time.Millisecond, cancel)
			} else {
				ctx, cancel = context.WithTimeout(context.Background(), 400*time.Millisecond)
			}
			defer cancel()
			start := time.Now()
			_, err := c.Submit(ctx, mustBuild(t))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %#v, want one matching %v", err, tc.want)
			}
			var ce *ContextError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %#v, want a *ContextError", err)
			}
			if el := time.Since(start); el > 10*time.Second {
				t.Fatalf("returned after %v", el)
			}
			if n := len(srv.requests()); n > 1 {
				t.Fatalf("%d requests, want 1 (the context ended the call)", n)
			}
		})
	}
	t.Run("already canceled", func(t *testing.T) {
		srv := newScripted(t, ok200())
		c := newTestClient(t, srv.URL)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.Submit(ctx, mustBuild(t)); !errors.Is(err, context.Canceled) || KindOf(err) != KindCanceled {
			t.Fatalf("err = %v", err)
		}
		if _, err := c.Get(ctx, "abc"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Get: err = %v", err)
		}
		if _, err := c.Health(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Health: err = %v", err)
		}
		if n := len(srv.requests()); n != 0 {
			t.Fatalf("%d requests sent under a canceled context", n)
		}
	})
}

func TestTransportErrorsAreRetriedThenReported(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	var attempts int32
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		atomic.AddInt32(&attempts, 1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := newTestClient(t, url, WithHTTPClient(hc),
		WithRetry(RetryPolicy{MaxRetries: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	_, err := c.Submit(context.Background(), mustBuild(t))
	var te *TransportError
	if !errors.As(err, &te) || te.Timeout || te.Err == nil || KindOf(err) != KindTransport || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %#v", err)
	}
	if strings.Contains(te.Reason, url) {
		t.Errorf("the reason %q carries the URL", te.Reason)
	}
	if n := atomic.LoadInt32(&attempts); n != 3 {
		t.Fatalf("%d attempts, want 3 (WithHTTPClient's client is used)", n)
	}
	if ok, err := c.Health(context.Background()); ok || KindOf(err) != KindTransport {
		t.Fatalf("Health = %v, %v", ok, err)
	}
}
