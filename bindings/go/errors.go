package fractal

import (
	"errors"
	"fmt"
)

// Kind is the stable, machine-readable name of an error, shared by every SDK,
// the server and the golden vectors.
type Kind string

// The kinds of error the core reports.
const (
	KindInvalidJSON      Kind = "invalid_json"      // not well-formed JSON, or not an object
	KindInvalidField     Kind = "invalid_field"     // a field is malformed at parse level
	KindValidation       Kind = "validation"        // SDK validation failed (SPEC §1)
	KindSignatureMissing Kind = "signature_missing" // a signature was required, the record has none
	KindSignatureInvalid Kind = "signature_invalid" // the signature is malformed or verifies under no key
	// KindUnsupportedSignatureVersion: the signature names a payload version
	// the verifier's policy refuses (a v1 signature on a v2-only verifier, or
	// an unknown "vN:" prefix).
	KindUnsupportedSignatureVersion Kind = "unsupported_signature_version"
	KindInvalidKey                  Kind = "invalid_key"      // a key could not be used
	KindRing                        Kind = "ring"             // a ring operation failed
	KindInvalidArgument             Kind = "invalid_argument" // an argument that is not a record field is invalid
	KindInternal                    Kind = "internal"         // a bug in the library (a caught panic)
)

// Sentinel errors, one per kind; match them with errors.Is. ErrSignature
// matches every signature error: missing, invalid or of an unsupported version.
var (
	ErrInvalidJSON      = errors.New("fractal: invalid JSON")
	ErrInvalidField     = errors.New("fractal: invalid field")
	ErrValidation       = errors.New("fractal: validation failed")
	ErrSignature        = errors.New("fractal: signature missing or invalid")
	ErrSignatureMissing = errors.New("fractal: signature missing")
	ErrSignatureInvalid = errors.New("fractal: signature invalid")
	// ErrUnsupportedSignatureVersion matches a signature whose payload version
	// the verifier (or the server's tenant policy) does not accept.
	ErrUnsupportedSignatureVersion = errors.New("fractal: unsupported signature version")
	ErrInvalidKey                  = errors.New("fractal: invalid key")
	ErrRing                        = errors.New("fractal: ring")
	ErrInvalidArgument             = errors.New("fractal: invalid argument")
	ErrInternal                    = errors.New("fractal: internal error")
	// ErrClosed is returned by the methods of a handle after Close.
	ErrClosed = errors.New("fractal: use of a closed handle")
)

var sentinels = map[Kind]error{
	KindInvalidJSON:                 ErrInvalidJSON,
	KindInvalidField:                ErrInvalidField,
	KindValidation:                  ErrValidation,
	KindSignatureMissing:            ErrSignatureMissing,
	KindSignatureInvalid:            ErrSignatureInvalid,
	KindUnsupportedSignatureVersion: ErrUnsupportedSignatureVersion,
	KindInvalidKey:                  ErrInvalidKey,
	KindRing:                        ErrRing,
	KindInvalidArgument:             ErrInvalidArgument,
	KindInternal:                    ErrInternal,
}

// Error is the error every function of this package returns. Use errors.As to
// read its Kind and Field, or errors.Is with a sentinel of its kind.
type Error struct {
	// Kind is the machine-readable kind.
	Kind Kind
	// Field is the record field (or argument) the error is about, e.g.
	// "coh_star", "epoch", "ft.outbox_seq" or "sig"; empty when there is none.
	Field string
	// Message is the core's explanation (it never contains key material).
	Message string
}

// Error returns "fractal: " and the message.
func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("fractal: %s", e.Kind)
	}
	return "fractal: " + e.Message
}

// Is reports whether target is the sentinel of e's kind (or ErrSignature for
// any of the three signature kinds).
func (e *Error) Is(target error) bool {
	if target == ErrSignature {
		return e.Kind == KindSignatureMissing || e.Kind == KindSignatureInvalid ||
			e.Kind == KindUnsupportedSignatureVersion
	}
	s, ok := sentinels[e.Kind]
	return ok && s == target
}

func argError(name, reason string) error {
	return &Error{Kind: KindInvalidArgument, Field: name, Message: fmt.Sprintf("invalid argument `%s`: %s", name, reason)}
}
