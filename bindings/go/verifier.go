package fractal

// #include <fractal.h>
import "C"

import (
	"encoding/json"
	"runtime"
	"sync"
	"time"
)

// Key is one key a Verifier accepts signatures under; make one with HMACKey or
// Ed25519PublicKey. It is a VerifierOption.
type Key struct {
	hmac   []byte
	public string
	isHMAC bool
}

// VerifierOption configures NewVerifier: a Key, AcceptVersions or
// AcceptEncodings.
type VerifierOption interface {
	applyVerifier(*verifierSettings)
}

type verifierSettings struct {
	keys      []Key
	versions  []string
	encodings []string
	policy    bool
}

func (k Key) applyVerifier(s *verifierSettings) { s.keys = append(s.keys, k) }

type verifierOptionFunc func(*verifierSettings)

func (f verifierOptionFunc) applyVerifier(s *verifierSettings) { f(s) }

// The seed's v1 encodings a Verifier may accept (SPEC §4.1), for
// AcceptEncodings.
const (
	EncodingSeedPython = "seed-python" // the seed's Python SDK and agent
	EncodingSeedGo     = "seed-go"     // the seed's Go SDK
)

// AcceptVersions sets the payload versions the verifier accepts, by name:
// "v1", "v2" (SPEC §4). Without it a verifier accepts v2 only, as the SPEC
// sets for new tenants; a fleet that migrates accepts both. A signature of
// another version is an *Error of kind KindUnsupportedSignatureVersion. An
// unknown name fails NewVerifier with KindInvalidArgument naming
// "signature_versions".
func AcceptVersions(versions ...string) VerifierOption {
	return verifierOptionFunc(func(s *verifierSettings) {
		s.versions = append(s.versions, versions...)
		s.policy = true
	})
}

// AcceptEncodings also accepts v1 signatures made by the seed's SDKs over
// their own encodings of the v1 fields (SPEC §4.1): EncodingSeedPython,
// EncodingSeedGo. They are tried only after the canonical v1 payload fails,
// and only where v1 is accepted (AcceptVersions("v1", ...)). An unknown name
// fails NewVerifier with KindInvalidArgument naming "accept_encodings".
func AcceptEncodings(encodings ...string) VerifierOption {
	return verifierOptionFunc(func(s *verifierSettings) {
		s.encodings = append(s.encodings, encodings...)
		s.policy = true
	})
}

// HMACKey is an HMAC-SHA256 shared secret (its bytes; it must not be empty).
func HMACKey(secret []byte) Key {
	return Key{hmac: append([]byte(nil), secret...), isHMAC: true}
}

// Ed25519PublicKey is an Ed25519 public key given as base64 of its 32 bytes.
func Ed25519PublicKey(publicB64 string) Key {
	return Key{public: publicB64}
}

// Verifier checks signatures (SPEC §4) under one or more keys: a signature is
// valid when it verifies under any of them (key rotation). It is immutable once
// built and safe for concurrent use. Close it when done.
type Verifier struct {
	mu sync.RWMutex
	h  *C.FractalVerifier
	n  int
}

// NewVerifier builds a verifier holding the keys among opts, under the
// signature policy they set (default: v2 only):
//
//	v, err := fractal.NewVerifier(fractal.HMACKey(secret),
//		fractal.AcceptVersions("v1", "v2"), fractal.AcceptEncodings(fractal.EncodingSeedPython))
//
// A key that cannot be used is a KindInvalidKey error; a verifier with no key
// rejects every signature.
func NewVerifier(opts ...VerifierOption) (*Verifier, error) {
	var s verifierSettings
	for _, o := range opts {
		if o != nil {
			o.applyVerifier(&s)
		}
	}
	keys := s.keys
	b := C.fractal_verifier_builder_new()
	if b == nil {
		return nil, &Error{Kind: KindInternal, Message: "could not create a verifier"}
	}
	if s.policy {
		versions := s.versions
		if versions == nil {
			versions = []string{V2.String()}
		}
		raw, _ := json.Marshal(map[string][]string{"versions": versions, "encodings": s.encodings})
		var cerr C.FractalError
		p, n := bytesArg(raw)
		st := C.fractal_verifier_builder_set_policy(b, p, n, &cerr)
		runtime.KeepAlive(raw)
		if err := check(st, &cerr); err != nil {
			C.fractal_verifier_builder_free(b)
			return nil, err
		}
	}
	for _, k := range keys {
		var cerr C.FractalError
		var st C.FractalStatus
		if k.isHMAC {
			p, n := bytesArg(k.hmac)
			st = C.fractal_verifier_builder_add_hmac_key(b, p, n, &cerr)
		} else {
			p, n := strArg(k.public)
			st = C.fractal_verifier_builder_add_ed25519_public_key(b, p, n, &cerr)
		}
		runtime.KeepAlive(k)
		if err := check(st, &cerr); err != nil {
			C.fractal_verifier_builder_free(b)
			return nil, err
		}
	}
	v := &Verifier{h: C.fractal_verifier_builder_build(b), n: len(keys)}
	runtime.SetFinalizer(v, (*Verifier).Close)
	return v, nil
}

// Len is the number of keys the verifier holds.
func (v *Verifier) Len() int { return v.n }

// Verify checks p.Sig over the payload its prefix names ("v2:" for v2, none
// for v1), for the record as MarshalPCS writes it: nil when it verifies under
// any key and the policy accepts its version, otherwise an *Error of kind
// KindSignatureMissing (empty Sig), KindUnsupportedSignatureVersion (a
// version the policy refuses) or KindSignatureInvalid (all three match
// ErrSignature).
func (v *Verifier) Verify(p *PCS) error {
	data, err := recordJSON(p)
	if err != nil {
		return err
	}
	return v.VerifyJSON(data)
}

// VerifyJSON checks the sig of a record given as JSON (parsed strictly), as
// the server does.
func (v *Verifier) VerifyJSON(data []byte) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.h == nil {
		return ErrClosed
	}
	var cerr C.FractalError
	d, dn := bytesArg(data)
	st := C.fractal_verifier_verify_json(v.h, d, dn, &cerr)
	runtime.KeepAlive(data)
	return check(st, &cerr)
}

// VerifyRead checks the Authorization header value of a read (SPEC §6.1),
// "Fractal t=<unix seconds>, sig=<base64>", for tenant and pcsID at time now:
// nil when it verifies under any key within 300 s of now, otherwise an *Error
// of kind KindSignatureMissing (empty) or KindSignatureInvalid (malformed,
// stale, or verifying under no key).
func (v *Verifier) VerifyRead(tenant, pcsID, authorization string, now time.Time) error {
	t, err := unixSeconds(now)
	if err != nil {
		return err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.h == nil {
		return ErrClosed
	}
	var cerr C.FractalError
	tp, tn := strArg(tenant)
	ip, in := strArg(pcsID)
	ap, an := strArg(authorization)
	st := C.fractal_verifier_verify_read(v.h, tp, tn, ip, in, ap, an, t, &cerr)
	keepAlive(tenant, pcsID, authorization)
	return check(st, &cerr)
}

// Close frees the verifier. It is idempotent; later calls return ErrClosed.
func (v *Verifier) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.h != nil {
		C.fractal_verifier_free(v.h)
		v.h = nil
		runtime.SetFinalizer(v, nil)
	}
	return nil
}
