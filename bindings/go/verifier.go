package fractal

// #include <fractal.h>
import "C"

import (
	"runtime"
	"sync"
)

// Key is one key a Verifier accepts signatures under; make one with HMACKey or
// Ed25519PublicKey.
type Key struct {
	hmac   []byte
	public string
	isHMAC bool
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

// NewVerifier builds a verifier holding keys. A key that cannot be used is a
// KindInvalidKey error; a verifier with no key rejects every signature.
func NewVerifier(keys ...Key) (*Verifier, error) {
	b := C.fractal_verifier_builder_new()
	if b == nil {
		return nil, &Error{Kind: KindInternal, Message: "could not create a verifier"}
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

// Verify checks p.Sig over p's canonical digest: nil when it verifies under any
// key, otherwise an *Error of kind KindSignatureMissing (empty Sig) or
// KindSignatureInvalid (both match ErrSignature).
func (v *Verifier) Verify(p *PCS) error {
	if p == nil {
		return argError("pcs", "is nil")
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.h == nil {
		return ErrClosed
	}
	var cerr C.FractalError
	s, sn := strArg(p.Sig)
	st := C.fractal_verifier_verify_fields(v.h, fieldsOf(p), s, sn, &cerr)
	runtime.KeepAlive(p)
	return check(st, &cerr)
}

// VerifyJSON checks the sig of a record given as JSON (parsed strictly).
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
