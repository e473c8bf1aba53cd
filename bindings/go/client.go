package fractal

// #include <fractal.h>
import "C"

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"
)

// SDKVersion is the version of this SDK, sent in User-Agent as
// "fractal-lba-go/<SDKVersion> (core <Version()>)".
const SDKVersion = "0.1.0"

// maxAnswer caps how much of an answer body is read (the server's answers are
// a few hundred bytes; this only bounds a misbehaving peer).
const maxAnswer = 4 << 20

// defaultTimeout is the per-attempt timeout when WithTimeout is not given (the
// core's default).
const defaultTimeout = C.FRACTAL_DEFAULT_TIMEOUT_MS * time.Millisecond

// defaultHTTPClient is shared by every Client without WithHTTPClient, so they
// share its pool of kept-alive connections. It follows no proxy settings other
// than the environment's (like http.DefaultTransport), dials with the core's
// connection timeout (5 s) and asks for no compression, so that what goes on the wire is the
// request the core built plus only what HTTP/1.1 requires (Host,
// Content-Length).
var defaultHTTPClient = &http.Client{Transport: newDefaultTransport()}

func newDefaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: C.FRACTAL_DEFAULT_CONNECT_TIMEOUT_MS * time.Millisecond, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConnsPerHost = 32
	t.DisableCompression = true
	return t
}

// RetryPolicy says how often and how long a Client retries a call that may
// succeed later (429, 5xx, transport failures and per-attempt timeouts; never
// a 400 or a 401). Retry k (from 0) waits a uniformly random time in
// [0, min(MaxDelay, BaseDelay·2^k)) — or what the server's Retry-After asks.
// Delays are counted in whole milliseconds.
type RetryPolicy struct {
	// MaxRetries is the number of retries after the first attempt (0: none).
	MaxRetries int
	// BaseDelay is the ceiling of the first retry's random delay.
	BaseDelay time.Duration
	// MaxDelay caps every computed delay.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After honoured; a longer one ends
	// the call with the error instead of sleeping. 0 means the default, 60 s.
	MaxRetryAfter time.Duration
}

// SubmitResult is the server's answer to a submission.
type SubmitResult struct {
	// Status is 200 (accepted, not escalated) or 202 (escalated or refused).
	Status int `json:"status"`
	// Result is the stored verification outcome.
	Result VerifyResult `json:"result"`
	// DedupHit is true when the server answered from its dedup store: the
	// record had been submitted before (X-Dedup: hit).
	DedupHit bool `json:"dedup_hit"`
}

// ClientOption configures NewClient.
type ClientOption func(*clientSettings)

type clientSettings struct {
	tenant     *string
	alg        C.uint32_t
	key        []byte
	keys       int
	httpClient *http.Client
	timeout    time.Duration
	retry      *RetryPolicy
	seed       *uint64
	version    SigVersion
	now        func() time.Time
}

// WithTenant sends the tenant as X-Tenant-Id (the server's default tenant is
// "default"). It must be non-empty printable ASCII.
func WithTenant(tenant string) ClientOption {
	return func(s *clientSettings) { s.tenant = &tenant }
}

// WithHMACKey signs every submitted record with HMAC-SHA256 under the shared
// secret (its bytes; SPEC §4). The secret is copied into the core.
func WithHMACKey(secret []byte) ClientOption {
	return func(s *clientSettings) {
		s.alg, s.key = C.FRACTAL_ALGORITHM_HMAC, append([]byte(nil), secret...)
		s.keys++
	}
}

// WithEd25519Seed signs every submitted record with Ed25519 under the private
// key given as base64 of its 32-byte seed.
func WithEd25519Seed(seedB64 string) ClientOption {
	return func(s *clientSettings) {
		s.alg, s.key = C.FRACTAL_ALGORITHM_ED25519, []byte(seedB64)
		s.keys++
	}
}

// WithSignatureVersion selects the payload submitted records are signed over
// (default V2). WithSignatureVersion(1) signs the seed's v1 payload, for a
// tenant whose server policy still accepts only v1. Another value fails
// NewClient with KindInvalidArgument naming "signature_version".
func WithSignatureVersion(v SigVersion) ClientOption {
	return func(s *clientSettings) { s.version = v }
}

// WithHTTPClient sends requests with hc instead of the SDK's shared client.
// Its Timeout, if any, applies on top of the per-attempt timeout; its
// redirect policy and transport are used as they are.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(s *clientSettings) { s.httpClient = hc }
}

// WithTimeout bounds each attempt — connecting, sending and reading the
// answer — (default 10 s). An attempt that times out is retried like any
// transport failure. The whole call is bounded by the context given to it.
func WithTimeout(perAttempt time.Duration) ClientOption {
	return func(s *clientSettings) { s.timeout = perAttempt }
}

// WithRetry replaces the retry policy (default: 3 retries, 100 ms base delay,
// 5 s cap, Retry-After honoured up to 60 s).
func WithRetry(p RetryPolicy) ClientOption {
	return func(s *clientSettings) { s.retry = &p }
}

// WithJitterSeed fixes the seed of the backoff's random delays, so that every
// call follows the same, predictable schedule (for tests; every SDK computes
// the same schedule from the same seed). By default each call draws a seed
// from crypto/rand.
func WithJitterSeed(seed uint64) ClientOption {
	return func(s *clientSettings) { s.seed = &seed }
}

// Client submits records to a Fractal LBA server and reads outcomes back. The
// protocol — the request's bytes and headers, signing, which answers are
// retried and after how long, the error each answer means — is the core's
// (the same in every SDK); the Client only carries the bytes with net/http
// and sleeps, honouring the context of each call.
//
// A Client is safe for concurrent use. Close it when done (a finalizer is
// only a safety net).
type Client struct {
	mu      sync.RWMutex
	h       *C.FractalClient
	http    *http.Client
	timeout time.Duration
	seed    *uint64
	now     func() time.Time
}

// NewClient returns a client for the server at baseURL (http:// or https://,
// e.g. "http://127.0.0.1:8080"). A bad option is an *Error of kind
// KindInvalidArgument naming it, or KindInvalidKey for a key that cannot be
// used.
func NewClient(baseURL string, opts ...ClientOption) (*Client, error) {
	s := clientSettings{alg: C.FRACTAL_ALGORITHM_NONE, timeout: defaultTimeout, httpClient: defaultHTTPClient,
		version: V2, now: time.Now}
	for _, o := range opts {
		o(&s)
	}
	if s.keys > 1 {
		return nil, argError("key", "give at most one signing key")
	}
	if s.timeout <= 0 {
		return nil, argError("timeout", "must be positive")
	}
	if s.httpClient == nil {
		return nil, argError("http_client", "is nil")
	}
	var retry *C.FractalRetryPolicy
	if r := s.retry; r != nil {
		if r.MaxRetries < 0 || int64(r.MaxRetries) > math.MaxUint32 || r.BaseDelay < 0 || r.MaxDelay < 0 || r.MaxRetryAfter < 0 {
			return nil, argError("retry", "counts and delays must not be negative (MaxRetries at most 2^32-1)")
		}
		retry = &C.FractalRetryPolicy{max_retries: C.uint32_t(r.MaxRetries), base_delay_ms: C.uint64_t(r.BaseDelay.Milliseconds()),
			max_delay_ms: C.uint64_t(r.MaxDelay.Milliseconds()), max_retry_after_ms: C.uint64_t(r.MaxRetryAfter.Milliseconds())}
	}
	tenant := ""
	if s.tenant != nil {
		tenant = *s.tenant
	}
	up, un := strArg(baseURL)
	np, nn := strArg("go")
	vp, vn := strArg(SDKVersion)
	tp, tn := strArg(tenant)
	kp, kn := bytesArg(s.key)
	var h *C.FractalClient
	var cerr C.FractalError
	st := C.fractal_client_new(up, un, np, nn, vp, vn, C.bool(s.tenant != nil), tp, tn, retry, C.uint32_t(s.version),
		s.alg, kp, kn, &h, &cerr)
	keepAlive(baseURL, tenant, s.key)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	c := &Client{h: h, http: s.httpClient, timeout: s.timeout, seed: s.seed, now: s.now}
	runtime.SetFinalizer(c, (*Client).Close)
	return c, nil
}

// Close frees the client's native memory. It is idempotent; calls started
// after it return ErrClosed (calls in flight finish normally).
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h != nil {
		C.fractal_client_free(c.h)
		c.h = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// Submit validates p (SPEC §1), signs it when the client has a key (p itself
// is not changed), and submits it, retrying per the policy; submissions are
// idempotent, so a retry never stores twice. A record that fails validation
// is an *Error (errors.Is(err, ErrValidation) or ErrInvalidField) and nothing
// is sent. The other errors are *ValidationError (400), *SignatureError (401),
// *RateLimitedError (429 after every retry), *APIError (any other status),
// *TransportError (connection failures and per-attempt timeouts, after every
// retry) and *ContextError (ctx canceled or expired; it matches
// context.Canceled or context.DeadlineExceeded).
func (c *Client) Submit(ctx context.Context, p *PCS) (*SubmitResult, error) {
	data, err := MarshalPCS(p)
	if err != nil {
		return nil, err
	}
	return c.SubmitJSON(ctx, data)
}

// SubmitJSON is Submit for a record given as JSON (parsed strictly by the
// core), e.g. one signed elsewhere and forwarded as is.
func (c *Client) SubmitJSON(ctx context.Context, record []byte) (*SubmitResult, error) {
	sub, err := c.start(func(h *C.FractalClient, seed C.uint64_t, out **C.FractalSubmission, cerr *C.FractalError) C.FractalStatus {
		p, n := bytesArg(record)
		st := C.fractal_client_submit(h, p, n, seed, out, cerr)
		runtime.KeepAlive(record)
		return st
	})
	if err != nil {
		return nil, err
	}
	return c.drive(ctx, sub)
}

// Get returns the stored outcome of pcsID for the client's tenant, or nil and
// no error when the server has none (404). When the client has a key the read
// is signed (SPEC §6.1: Authorization: Fractal t=<now>, sig=…, for the
// client's tenant or "default"); a server that authenticates reads answers an
// unsigned or stale one with a *SignatureError. Errors are those of Submit.
func (c *Client) Get(ctx context.Context, pcsID string) (*VerifyResult, error) {
	now, err := unixSeconds(c.now())
	if err != nil {
		return nil, err
	}
	sub, err := c.start(func(h *C.FractalClient, seed C.uint64_t, out **C.FractalSubmission, cerr *C.FractalError) C.FractalStatus {
		p, n := strArg(pcsID)
		st := C.fractal_client_get(h, p, n, now, seed, out, cerr)
		runtime.KeepAlive(pcsID)
		return st
	})
	if err != nil {
		return nil, err
	}
	res, err := c.drive(ctx, sub)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.notFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &res.Result, nil
}

// Health reports whether the server answers GET /health with 200. It makes
// one attempt: a transport failure is a *TransportError, a canceled or
// expired ctx a *ContextError.
func (c *Client) Health(ctx context.Context) (bool, error) {
	sub, err := c.start(func(h *C.FractalClient, seed C.uint64_t, out **C.FractalSubmission, cerr *C.FractalError) C.FractalStatus {
		return C.fractal_client_health(h, seed, out, cerr)
	})
	if err != nil {
		return false, err
	}
	defer C.fractal_submission_free(sub)
	req, err := requestOf(sub)
	if err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, &ContextError{Err: err}
	}
	status, _, _, terr := c.send(ctx, req)
	if terr != nil {
		if err := ctx.Err(); err != nil {
			return false, &ContextError{Err: err}
		}
		reason, timeout := c.describe(terr)
		return false, &TransportError{Timeout: timeout, Reason: reason, Err: terr}
	}
	return status == http.StatusOK, nil
}

// start makes a submission under the client's lock (so Close cannot free the
// handle meanwhile); the submission then lives on its own.
func (c *Client) start(f func(*C.FractalClient, C.uint64_t, **C.FractalSubmission, *C.FractalError) C.FractalStatus) (*C.FractalSubmission, error) {
	seed, err := c.jitterSeed()
	if err != nil {
		return nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.h == nil {
		return nil, ErrClosed
	}
	var sub *C.FractalSubmission
	var cerr C.FractalError
	if err := check(f(c.h, C.uint64_t(seed), &sub, &cerr), &cerr); err != nil {
		return nil, err
	}
	return sub, nil
}

func (c *Client) jitterSeed() (uint64, error) {
	if c.seed != nil {
		return *c.seed, nil
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, &Error{Kind: KindInternal, Message: "reading a jitter seed: " + err.Error()}
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// httpRequest is the request the core built (fractal_submission_request).
type httpRequest struct {
	Method  string      `json:"method"`
	URL     string      `json:"url"`
	Headers [][2]string `json:"headers"`
	body    []byte
}

func requestOf(sub *C.FractalSubmission) (*httpRequest, error) {
	var head, body C.FractalBytes
	var cerr C.FractalError
	if err := check(C.fractal_submission_request(sub, &head, &body, &cerr), &cerr); err != nil {
		return nil, err
	}
	var req httpRequest
	err := json.Unmarshal(takeBytes(&head), &req)
	req.body = takeBytes(&body)
	if err != nil {
		return nil, &Error{Kind: KindInternal, Message: "decoding the core's request: " + err.Error()}
	}
	return &req, nil
}

// drive sends the submission's request until the core says the call is over,
// sleeping between attempts as it says, and frees the submission.
func (c *Client) drive(ctx context.Context, sub *C.FractalSubmission) (*SubmitResult, error) {
	defer C.fractal_submission_free(sub)
	req, err := requestOf(sub)
	if err != nil {
		return nil, err
	}
	var step C.FractalStep
	defer C.fractal_step_free(&step)
	for {
		if err := ctx.Err(); err != nil {
			return nil, &ContextError{Err: err}
		}
		status, headers, body, terr := c.send(ctx, req)
		var cerr C.FractalError
		var st C.FractalStatus
		if terr != nil {
			if err := ctx.Err(); err != nil {
				return nil, &ContextError{Err: err}
			}
			reason, timeout := c.describe(terr)
			rp, rn := strArg(reason)
			st = C.fractal_submission_on_transport_error(sub, rp, rn, C.bool(timeout), &step, &cerr)
			runtime.KeepAlive(reason)
		} else {
			hp, hn := bytesArg(headers)
			bp, bn := bytesArg(body)
			st = C.fractal_submission_on_response(sub, C.uint16_t(status), hp, hn, bp, bn, &step, &cerr)
			keepAlive(headers, body)
		}
		if err := check(st, &cerr); err != nil {
			return nil, err
		}
		switch step.kind {
		case C.FRACTAL_STEP_KIND_RETRY:
			if err := sleep(ctx, time.Duration(step.delay_ms)*time.Millisecond); err != nil {
				return nil, err
			}
		case C.FRACTAL_STEP_KIND_SUCCESS:
			var res SubmitResult
			if err := json.Unmarshal(takeBytes(&step.json), &res); err != nil {
				return nil, &Error{Kind: KindInternal, Message: "decoding the core's answer: " + err.Error()}
			}
			return &res, nil
		default:
			return nil, clientError(takeBytes(&step.json), terr)
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return &ContextError{Err: ctx.Err()}
	case <-t.C:
		return nil
	}
}

// send makes one attempt under the per-attempt timeout: the status, the
// headers as JSON [name, value] pairs, the body.
func (c *Client) send(ctx context.Context, req *httpRequest) (int, []byte, []byte, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if len(req.body) > 0 {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(actx, req.Method, req.URL, body)
	if err != nil {
		return 0, nil, nil, err
	}
	for _, h := range req.Headers {
		hr.Header.Add(h[0], h[1])
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, nil, nil, err
	}
	pairs := make([][2]string, 0, len(resp.Header))
	for k, vs := range resp.Header {
		for _, v := range vs {
			pairs = append(pairs, [2]string{k, v})
		}
	}
	headers, err := json.Marshal(pairs)
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, headers, data, nil
}

// describe turns a transport error into the reason the core records (without
// the URL, which may carry credentials) and whether it was a timeout.
func (c *Client) describe(err error) (string, bool) {
	timeout := errors.Is(err, context.DeadlineExceeded)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		timeout = true
	}
	reason := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		reason = ue.Op + ": " + ue.Err.Error()
	}
	if timeout {
		reason = fmt.Sprintf("attempt timed out (per-attempt timeout %s): %s", c.timeout, reason)
	}
	return strings.ToValidUTF8(reason, "\uFFFD"), timeout
}
