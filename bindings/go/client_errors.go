package fractal

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// The kinds of the errors a Client call ends with (the core's
// ClientError.kind(), shared by every SDK), beside the core's kinds above
// (which a Client returns for a record refused before sending). KindOf
// reads them from any error.
const (
	KindInvalid     Kind = "invalid"      // the server refused the record as malformed (400, 413, 415)
	KindSignature   Kind = "signature"    // the server refused the signature (401)
	KindRateLimited Kind = "rate_limited" // rate limited (429) after every retry
	KindAPI         Kind = "api"          // any other error answer (403, 404, 5xx after every retry, …)
	KindTimeout     Kind = "timeout"      // attempts timed out (after every retry), or the context's deadline passed
	KindTransport   Kind = "transport"    // the request could not be completed (after every retry)
	KindCanceled    Kind = "canceled"     // the context was canceled
)

// Sentinels of the client's errors; match them with errors.Is.
var (
	// ErrRateLimited matches a *RateLimitedError.
	ErrRateLimited = errors.New("fractal: rate limited")
	// ErrTimeout matches a *TransportError whose attempts timed out.
	ErrTimeout = errors.New("fractal: timed out")
)

// ValidationError is the server's refusal of a record as malformed (400
// invalid_json / invalid_field; also 413 payload_too_large and 415). It
// matches ErrValidation, and the sentinel of its code (ErrInvalidJSON or
// ErrInvalidField). Never retried.
type ValidationError struct {
	Status  int    // 400, 413 or 415
	Code    string // the server's error code, e.g. "invalid_field"
	Message string // the server's message, naming the field
	display string
}

func (e *ValidationError) Error() string {
	return text(e.display, "server rejected the record: "+e.Message)
}

// Is matches ErrValidation, and the sentinel of the kind the code names.
func (e *ValidationError) Is(target error) bool {
	return target == ErrValidation || target == sentinels[Kind(e.Code)]
}

// SignatureError is the server's refusal of the signature (401). It matches
// ErrSignature, and the sentinel of its code (ErrSignatureMissing,
// ErrSignatureInvalid or ErrUnsupportedSignatureVersion). Never retried.
type SignatureError struct {
	Code    string // "signature_missing", "signature_invalid" or "unsupported_signature_version"
	Message string // the server's message
	display string
}

func (e *SignatureError) Error() string {
	return text(e.display, "server refused the signature: "+e.Message)
}

// Status is 401.
func (e *SignatureError) Status() int { return 401 }

// Is matches ErrSignature, and the sentinel of the kind the code names.
func (e *SignatureError) Is(target error) bool {
	return target == ErrSignature || target == sentinels[Kind(e.Code)]
}

// RateLimitedError is a 429 that persisted through every retry (or asked for
// a wait longer than RetryPolicy.MaxRetryAfter). It matches ErrRateLimited.
type RateLimitedError struct {
	RetryAfter time.Duration // what the last answer's Retry-After asked (0 when absent)
	Message    string        // the server's message
	display    string
}

func (e *RateLimitedError) Error() string { return text(e.display, "rate limited: "+e.Message) }

// Status is 429.
func (e *RateLimitedError) Status() int { return 429 }

// Is matches ErrRateLimited.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// APIError is any other error answer: 403 unknown_tenant, a 404, a 5xx that
// persisted through every retry, a 200 whose body is not a VerifyResult, ….
type APIError struct {
	Status  int    // the HTTP status
	Code    string // the server's error code, or "http_<status>" when the body had none
	Message string // the server's message, or the start of the body
	Body    string // the whole body (invalid UTF-8 replaced)
	display string
	// notFound: the core says this ends a lookup with "no outcome stored".
	notFound bool
}

func (e *APIError) Error() string { return text(e.display, "server answered an error: "+e.Message) }

// TransportError is a request that could not be completed — connection
// refused or reset, or an attempt that timed out — after every retry. It
// matches ErrTimeout when Timeout is set; Unwrap gives net/http's error.
type TransportError struct {
	Timeout bool   // whether the last attempt timed out
	Reason  string // what the transport said (without the URL)
	Err     error  // net/http's error of the last attempt
	display string
}

func (e *TransportError) Error() string { return text(e.display, "transport: "+e.Reason) }

// Unwrap returns net/http's error.
func (e *TransportError) Unwrap() error { return e.Err }

// Is matches ErrTimeout when the last attempt timed out.
func (e *TransportError) Is(target error) bool { return target == ErrTimeout && e.Timeout }

// ContextError ends a call whose context was canceled or passed its deadline,
// during an attempt or while waiting to retry. It matches context.Canceled or
// context.DeadlineExceeded (Unwrap).
type ContextError struct {
	Err error // ctx.Err()
}

func (e *ContextError) Error() string { return "fractal: call abandoned: " + e.Err.Error() }

// Unwrap returns ctx.Err().
func (e *ContextError) Unwrap() error { return e.Err }

// KindOf returns the stable kind of an error returned by this package (the
// same names in every SDK): an *Error's Kind, KindInvalid, KindSignature,
// KindRateLimited, KindAPI, KindTimeout, KindTransport or KindCanceled; ""
// for nil or an error of another package.
func KindOf(err error) Kind {
	var (
		e  *Error
		ve *ValidationError
		se *SignatureError
		re *RateLimitedError
		ae *APIError
		te *TransportError
		ce *ContextError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ce):
		if errors.Is(ce.Err, context.DeadlineExceeded) {
			return KindTimeout
		}
		return KindCanceled
	case errors.As(err, &e):
		return e.Kind
	case errors.As(err, &ve):
		return KindInvalid
	case errors.As(err, &se):
		return KindSignature
	case errors.As(err, &re):
		return KindRateLimited
	case errors.As(err, &ae):
		return KindAPI
	case errors.As(err, &te):
		if te.Timeout {
			return KindTimeout
		}
		return KindTransport
	}
	return ""
}

// StatusOf returns the HTTP status behind an error returned by this package,
// or 0 when none (a local refusal, a transport failure, a context).
func StatusOf(err error) int {
	var (
		ve *ValidationError
		se *SignatureError
		re *RateLimitedError
		ae *APIError
	)
	switch {
	case errors.As(err, &ve):
		return ve.Status
	case errors.As(err, &se):
		return se.Status()
	case errors.As(err, &re):
		return re.Status()
	case errors.As(err, &ae):
		return ae.Status
	}
	return 0
}

func text(display, fallback string) string {
	if display != "" {
		return "fractal: " + display
	}
	return "fractal: " + fallback
}

// failure is the core's error JSON of a FAILURE step (see bindings/c); its
// nulls decode as zero values.
type failure struct {
	Kind         Kind   `json:"kind"`
	Display      string `json:"display"`
	Message      string `json:"message"`
	Status       int    `json:"status"`
	Code         string `json:"code"`
	Body         string `json:"body"`
	RetryAfterMs int64  `json:"retry_after_ms"`
	Field        string `json:"field"`
	NotFound     bool   `json:"not_found"`
}

// clientError maps the core's error JSON to this package's typed errors;
// terr is net/http's error of the last attempt, if it failed.
func clientError(raw []byte, terr error) error {
	var f failure
	if err := json.Unmarshal(raw, &f); err != nil {
		return &Error{Kind: KindInternal, Message: "decoding the core's error: " + err.Error()}
	}
	switch f.Kind {
	case KindInvalid:
		return &ValidationError{Status: f.Status, Code: f.Code, Message: f.Message, display: f.Display}
	case KindSignature:
		return &SignatureError{Code: f.Code, Message: f.Message, display: f.Display}
	case KindRateLimited:
		after := time.Duration(f.RetryAfterMs) * time.Millisecond
		return &RateLimitedError{RetryAfter: after, Message: f.Message, display: f.Display}
	case KindAPI:
		return &APIError{Status: f.Status, Code: f.Code, Message: f.Message, Body: f.Body, display: f.Display,
			notFound: f.NotFound}
	case KindTimeout, KindTransport:
		return &TransportError{Timeout: f.Kind == KindTimeout, Reason: f.Message, Err: terr, display: f.Display}
	default:
		return &Error{Kind: f.Kind, Field: f.Field, Message: f.Display}
	}
}
