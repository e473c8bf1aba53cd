package fractal

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A reply the scripted server gives to one request.
type reply struct {
	status  int
	headers map[string]string
	body    string
	delay   time.Duration // before answering (cut short when the client goes away)
}

// A request the scripted server saw.
type seen struct {
	at     time.Time
	method string
	path   string
	header http.Header
	body   []byte
}

// scripted is an httptest server on loopback answering each request with the
// next reply of its script (the last reply repeats) and recording what came.
type scripted struct {
	*httptest.Server
	mu     sync.Mutex
	script []reply
	seen   []seen
}

func newScripted(t *testing.T, script ...reply) *scripted {
	t.Helper()
	s := &scripted{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.seen = append(s.seen, seen{at: time.Now(), method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body})
		rep := s.script[0]
		if len(s.script) > 1 {
			s.script = s.script[1:]
		}
		s.mu.Unlock()
		if rep.delay > 0 {
			select {
			case <-time.After(rep.delay):
			case <-r.Context().Done():
				return
			}
		}
		for k, v := range rep.headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scripted) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.seen...)
}

const (
	okBody      = `{"accepted":true,"escalated":false,"recomputed_D_hat":1.0,"recomputed_budget":0.5}`
	escalated   = `{"accepted":true,"escalated":true,"reason":"regime mismatch"}`
	rateBody    = `{"error":{"code":"rate_limited","message":"slow down"}}`
	downBody    = `{"error":{"code":"store_unavailable","message":"try later"}}`
	sigBody     = `{"error":{"code":"signature_invalid","message":"no key verifies it"}}`
	invalidBody = `{"error":{"code":"invalid_field","message":"invalid field ` + "`r`" + `"}}`
	tenantBody  = `{"error":{"code":"unknown_tenant","message":"no such tenant"}}`
	missingBody = `{"error":{"code":"not_found","message":"no such record"}}`
)

func ok200() reply { return reply{status: 200, body: okBody} }

func newTestClient(t *testing.T, url string, opts ...ClientOption) *Client {
	t.Helper()
	c, err := NewClient(url, opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fast retries: no time wasted in tests that do not look at the schedule.
var fast = WithRetry(RetryPolicy{MaxRetries: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})

func TestSubmitSignsWithHMACAndSendsTheHeaders(t *testing.T) {
	srv := newScripted(t, ok200())
	c := newTestClient(t, srv.URL+"/", WithTenant("acme"), WithHMACKey([]byte("tenant-secret")))
	p := mustBuild(t)
	res, err := c.Submit(context.Background(), p)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if res.Status != 200 || res.DedupHit || !res.Result.Accepted || res.Result.Escalated {
		t.Fatalf("result = %+v", res)
	}
	if p.Sig != "" {
		t.Fatal("Submit changed the caller's record")
	}
	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != "POST" || r.path != "/v1/pcs/submit" {
		t.Fatalf("%s %s", r.method, r.path)
	}
	for name, want := range map[string]string{
		"Content-Type": "application/json",
		"X-Tenant-Id":  "acme",
		"Accept":       "application/json",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if ua := r.header.Get("User-Agent"); !strings.HasPrefix(ua, "fractal-lba-go/"+SDKVersion+" (core ") {
		t.Errorf("User-Agent = %q", ua)
	}
	// The server side checks the body with the SDK's verifier and, independently,
	// with a pure-Go HMAC.
	v, err := NewVerifier(HMACKey([]byte("tenant-secret")))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.VerifyJSON(r.body); err != nil {
		t.Fatalf("the sent record does not verify: %v", err)
	}
	sent, err := ParsePCS(r.body)
	if err != nil {
		t.Fatal(err)
	}
	if !goVerifyHMACV2(r.body, sent.Sig, []byte("tenant-secret")) {
		t.Fatal("pure-Go HMAC (v2) disagrees with the sent signature")
	}
	if sent.PCSID != p.PCSID || sent.Budget != p.Budget {
		t.Fatalf("sent %+v, built %+v", sent, p)
	}
}

func TestSubmitSignsWithEd25519(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	seedB64 := base64.StdEncoding.EncodeToString(seed)
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)

	srv := newScripted(t, reply{status: 202, headers: map[string]string{"X-Dedup": "hit"}, body: escalated})
	c := newTestClient(t, srv.URL, WithEd25519Seed(seedB64))
	res, err := c.Submit(context.Background(), mustBuild(t))
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if res.Status != 202 || !res.DedupHit || !res.Result.Escalated || res.Result.Reason != "regime mismatch" {
		t.Fatalf("result = %+v", res)
	}
	r := srv.requests()[0]
	if r.header.Get("X-Tenant-Id") != "" {
		t.Error("X-Tenant-Id sent without WithTenant")
	}
	v, err := NewVerifier(Ed25519PublicKey(base64.StdEncoding.EncodeToString(pub)))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.VerifyJSON(r.body); err != nil {
		t.Fatalf("the sent record does not verify: %v", err)
	}
	sent, _ := ParsePCS(r.body)
	d, _ := goDigestV2(r.body)
	mac, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sent.Sig, "v2:"))
	if err != nil || !strings.HasPrefix(sent.Sig, "v2:") || !ed25519.Verify(pub, d[:], mac) {
		t.Fatal("crypto/ed25519 disagrees with the sent signature (v2)")
	}
}

func TestSubmitJSONSendsAPresignedRecordAsIs(t *testing.T) {
	p := mustBuild(t)
	var err error
	if p.Sig, err = goSignHMAC(p, []byte("elsewhere")); err != nil {
		t.Fatal(err)
	}
	data, _ := MarshalPCS(p)
	srv := newScripted(t, ok200())
	c := newTestClient(t, srv.URL)
	if _, err := c.SubmitJSON(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	sent, _ := ParsePCS(srv.requests()[0].body)
	if sent.Sig != p.Sig {
		t.Fatalf("sig %q, want the presigned %q", sent.Sig, p.Sig)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestGet(t *testing.T) {
	p := mustBuild(t)
	srv := newScripted(t, reply{status: 202, body: escalated}, reply{status: 404, body: missingBody},
		reply{status: 403, body: tenantBody})
	c := newTestClient(t, srv.URL, WithTenant("acme"))
	res, err := c.Get(context.Background(), p.PCSID)
	if err != nil || res == nil || !res.Escalated || res.Reason != "regime mismatch" {
		t.Fatalf("Get = %+v, %v", res, err)
	}
	res, err = c.Get(context.Background(), p.PCSID)
	if err != nil || res != nil {
		t.Fatalf("Get on a 404 = %+v, %v; want nil, nil", res, err)
	}
	if _, err := c.Get(context.Background(), p.PCSID); StatusOf(err) != 403 {
		t.Fatalf("Get on a 403: %v", err)
	}
	r := srv.requests()[0]
	if r.method != "GET" || r.path != "/v1/pcs/"+p.PCSID || len(r.body) != 0 || r.header.Get("X-Tenant-Id") != "acme" {
		t.Fatalf("%s %s body %d tenant %q", r.method, r.path, len(r.body), r.header.Get("X-Tenant-Id"))
	}
	if _, err := c.Get(context.Background(), "../admin"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a pcs_id that is not URL-safe: %v", err)
	}
	if n := len(srv.requests()); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	if h := r.header.Get("Authorization"); h != "" {
		t.Fatalf("a client without a key sent Authorization %q", h)
	}
}

// A client with a key signs its reads (SPEC §6.1) for its tenant at its clock:
// the server side checks the header with VerifyRead and, independently, with
// crypto/hmac.
func TestGetSignsTheRead(t *testing.T) {
	p := mustBuild(t)
	key := []byte("tenant-secret")
	v, _ := NewVerifier(HMACKey(key))
	defer v.Close()
	for _, tenant := range []string{"", "acme"} {
		srv := newScripted(t, reply{status: 404, body: missingBody})
		opts := []ClientOption{WithHMACKey(key)}
		if tenant != "" {
			opts = append(opts, WithTenant(tenant))
		}
		c := newTestClient(t, srv.URL, opts...)
		before := time.Now()
		if res, err := c.Get(context.Background(), p.PCSID); err != nil || res != nil {
			t.Fatalf("Get = %v, %v", res, err)
		}
		h := srv.requests()[0].header.Get("Authorization")
		signedFor := tenant
		if signedFor == "" {
			signedFor = "default" // the server's tenant when none is sent
		}
		if err := v.VerifyRead(signedFor, p.PCSID, h, before); err != nil {
			t.Fatalf("tenant %q: VerifyRead(%q) = %v", tenant, h, err)
		}
		var ts int64
		var mac string
		if _, err := fmt.Sscanf(h, "Fractal t=%d, sig=%s", &ts, &mac); err != nil {
			t.Fatalf("header %q: %v", h, err)
		}
		if d := ts - before.Unix(); d < 0 || d > 5 {
			t.Fatalf("signed at %d, the clock said %d", ts, before.Unix())
		}
		if want := goHMAC(key, goReadDigest(signedFor, p.PCSID, ts)); mac != want {
			t.Fatalf("sig %s, crypto/hmac says %s", mac, want)
		}
	}
}

func TestSignatureVersionOption(t *testing.T) {
	p := mustBuild(t)
	key := []byte("tenant-secret")
	for _, tc := range []struct {
		opts []ClientOption
		want func() (string, error)
	}{
		{nil, func() (string, error) { return SignHMAC(p, key) }},
		{[]ClientOption{WithSignatureVersion(V2)}, func() (string, error) { return SignHMAC(p, key) }},
		{[]ClientOption{WithSignatureVersion(1)}, func() (string, error) { return goSignHMAC(p, key) }},
	} {
		srv := newScripted(t, ok200())
		c := newTestClient(t, srv.URL, append(tc.opts, WithHMACKey(key))...)
		if _, err := c.Submit(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		sent, _ := ParsePCS(srv.requests()[0].body)
		if want, _ := tc.want(); sent.Sig != want {
			t.Fatalf("sent sig %q, want %q", sent.Sig, want)
		}
	}
	// The server's 401 for a version its tenant refuses.
	srv := newScripted(t, reply{status: 401,
		body: `{"error":{"code":"unsupported_signature_version","message":"tenant accepts v2 only"}}`})
	c := newTestClient(t, srv.URL, WithHMACKey(key), WithSignatureVersion(V1))
	_, err := c.Submit(context.Background(), p)
	var se *SignatureError
	if !errors.As(err, &se) || !errors.Is(err, ErrUnsupportedSignatureVersion) || !errors.Is(err, ErrSignature) ||
		errors.Is(err, ErrSignatureInvalid) {
		t.Fatalf("err = %#v", err)
	}
}

func TestHealth(t *testing.T) {
	srv := newScripted(t, reply{status: 200, body: "ok"}, reply{status: 503, body: downBody})
	c := newTestClient(t, srv.URL)
	if ok, err := c.Health(context.Background()); !ok || err != nil {
		t.Fatalf("Health = %v, %v", ok, err)
	}
	if ok, err := c.Health(context.Background()); ok || err != nil {
		t.Fatalf("Health on a 503 = %v, %v; want false, nil", ok, err)
	}
	if reqs := srv.requests(); len(reqs) != 2 || reqs[0].path != "/health" || reqs[0].method != "GET" {
		t.Fatalf("requests: %+v", reqs)
	}
}

func TestInvalidRecordIsRefusedBeforeSending(t *testing.T) {
	srv := newScripted(t, ok200())
	c := newTestClient(t, srv.URL, WithHMACKey([]byte("k")))
	p := mustBuild(t)
	p.R = 1.5
	_, err := c.Submit(context.Background(), p)
	var e *Error
	if !errors.Is(err, ErrValidation) || !errors.As(err, &e) || e.Field != "r" || KindOf(err) != KindValidation {
		t.Fatalf("err = %#v", err)
	}
	if _, err := c.SubmitJSON(context.Background(), []byte(`{"pcs_id":7}`)); !errors.Is(err, ErrInvalidField) {
		t.Fatalf("SubmitJSON of a malformed record: %v", err)
	}
	if _, err := c.Submit(context.Background(), nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Submit(nil): %v", err)
	}
	if n := len(srv.requests()); n != 0 {
		t.Fatalf("%d requests sent for invalid records", n)
	}
}

func TestNewClientRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  string
		opts []ClientOption
		want error
		arg  string
	}{
		{"not http", "ftp://example.test", nil, ErrInvalidArgument, "base_url"},
		{"tenant with a space", "http://example.test", []ClientOption{WithTenant("a b")}, ErrInvalidArgument, "tenant"},
		{"empty HMAC key", "http://example.test", []ClientOption{WithHMACKey(nil)}, ErrInvalidKey, ""},
		{"bad seed", "http://example.test", []ClientOption{WithEd25519Seed("AAAA")}, ErrInvalidKey, ""},
		{"two keys", "http://example.test", []ClientOption{WithHMACKey([]byte("k")), WithEd25519Seed("AAAA")}, ErrInvalidArgument, "key"},
		{"zero timeout", "http://example.test", []ClientOption{WithTimeout(0)}, ErrInvalidArgument, "timeout"},
		{"negative retries", "http://example.test", []ClientOption{WithRetry(RetryPolicy{MaxRetries: -1})}, ErrInvalidArgument, "retry"},
		{"nil http client", "http://example.test", []ClientOption{WithHTTPClient(nil)}, ErrInvalidArgument, "http_client"},
		{"signature version 3", "http://example.test", []ClientOption{WithSignatureVersion(3)}, ErrInvalidArgument, "signature_version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.url, tc.opts...)
			var e *Error
			if c != nil || !errors.Is(err, tc.want) || !errors.As(err, &e) || e.Field != tc.arg {
				t.Fatalf("NewClient = %v, %#v", c, err)
			}
		})
	}
}

func TestClosedClient(t *testing.T) {
	c, err := NewClient("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if _, err := c.Submit(context.Background(), mustBuild(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
}

func TestOneClientSharedByManyGoroutines(t *testing.T) {
	var firsts sync.Map
	var requests int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		atomic.AddInt32(&requests, 1)
		// Each record's first attempt meets a 503, so retries interleave too.
		body, _ := io.ReadAll(r.Body)
		if _, again := firsts.LoadOrStore(string(body), true); !again {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(503)
			return
		}
		_, _ = io.WriteString(w, okBody)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, WithHMACKey([]byte("k")), WithRetry(RetryPolicy{MaxRetries: 10, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			in := sampleInput()
			for i := 0; i < 8; i++ {
				in.Epoch = uint64(g*100 + i)
				p, err := BuildPCS(in, nil)
				if err == nil {
					_, err = c.Submit(context.Background(), p)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := atomic.LoadInt32(&requests); n != 2*8*8 {
		t.Errorf("%d requests, want 128 (each of 64 records: a 503, then a 200)", n)
	}
}
