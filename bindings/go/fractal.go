// Package fractal is the Go SDK of Fractal LBA: it builds, signs, validates and
// verifies Proof-of-Computation Summaries (PCS) and routes them on a
// consistent-hash ring, with the very bytes every other language gets.
//
// There is no Go re-implementation of the wire contract here: every function
// calls the one Rust core (fractal-core) through its C ABI (bindings/c), linked
// statically with cgo. Records cross that boundary as JSON (MarshalPCS), which
// the core parses strictly — so a v2 signature covers exactly the bytes the
// record is sent as — or, for v1 signatures, as their eight signed fields.
//
// Signatures (SPEC §3–§4): SignHMAC, SignEd25519 and CanonicalPayload use the
// v2 payload (the whole record but its delivery fields, "v2:"-prefixed sig)
// unless given WithVersion(1) for the seed's v1 payload. A Verifier accepts v2
// only unless built with AcceptVersions (and AcceptEncodings for the seed's v1
// encodings). Reads are signed too (SPEC §6.1): SignReadHMAC,
// Ed25519Key.SignRead, Verifier.VerifyRead; a Client with a key signs its Get.
//
// Errors are values: every failure is an *Error carrying its Kind and the
// record field it is about, and matches the sentinel of its kind with errors.Is
// (ErrInvalidJSON, ErrInvalidField, ErrValidation, ErrSignature,
// ErrUnsupportedSignatureVersion, ...).
//
// Concurrency: the package-level functions, a *Verifier and an *Ed25519Key are
// safe for concurrent use; a *Ring is too (lookups run in parallel, changes are
// serialized). Handles own native memory: Close them when done (a finalizer
// is only a safety net).
package fractal

/*
#cgo CFLAGS: -I${SRCDIR}/lib/include
#cgo linux,amd64 LDFLAGS: -L${SRCDIR}/lib/linux_amd64 -lfractal -lm -ldl -lpthread -lrt -lutil -lgcc_s
#cgo linux,arm64 LDFLAGS: -L${SRCDIR}/lib/linux_arm64 -lfractal -lm -ldl -lpthread -lrt -lutil -lgcc_s
#include <fractal.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// Version is the version of the linked core library.
func Version() string {
	return C.GoString(C.fractal_version())
}

// strArg borrows the bytes of s for the duration of one C call (no copy: the
// C side only reads them and keeps no reference).
func strArg(s string) (*C.uint8_t, C.size_t) {
	if len(s) == 0 {
		return nil, 0
	}
	// The first word of a string header is its data pointer (what
	// unsafe.StringData returns from Go 1.20 on; Debian 12 ships Go 1.19).
	return *(**C.uint8_t)(unsafe.Pointer(&s)), C.size_t(len(s))
}

// bytesArg borrows b for the duration of one C call.
func bytesArg(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))
}

// takeBytes copies a library-owned buffer into Go memory and frees it.
func takeBytes(b *C.FractalBytes) []byte {
	out := C.GoBytes(unsafe.Pointer(b.ptr), C.int(b.len))
	C.fractal_bytes_free(b)
	return out
}

// fieldsOf borrows the eight signed fields of p (SPEC §3). The caller must keep
// p alive (runtime.KeepAlive) until the C call that uses them returns.
func fieldsOf(p *PCS) C.FractalFields {
	var f C.FractalFields
	f.pcs_id, f.pcs_id_len = strArg(p.PCSID)
	f.merkle_root, f.merkle_root_len = strArg(p.MerkleRoot)
	f.shard_id, f.shard_id_len = strArg(p.ShardID)
	f.epoch = C.uint64_t(p.Epoch)
	f.d_hat = C.double(p.DHat)
	f.coh_star = C.double(p.CohStar)
	f.r = C.double(p.R)
	f.budget = C.double(p.Budget)
	return f
}

// check turns a status and its filled error into a Go error (nil for OK) and
// frees the library's strings.
func check(st C.FractalStatus, cerr *C.FractalError) error {
	if st == C.FRACTAL_STATUS_OK {
		return nil
	}
	e := &Error{Kind: kindOfStatus(st)}
	if cerr.field != nil {
		e.Field = C.GoString(cerr.field)
	}
	if cerr.message != nil {
		e.Message = C.GoString(cerr.message)
	}
	C.fractal_error_free(cerr)
	return e
}

// kinds is the Kind of each non-OK FractalStatus (they mirror the core's kinds).
var kinds = [...]Kind{
	C.FRACTAL_STATUS_INVALID_JSON:                  KindInvalidJSON,
	C.FRACTAL_STATUS_INVALID_FIELD:                 KindInvalidField,
	C.FRACTAL_STATUS_VALIDATION:                    KindValidation,
	C.FRACTAL_STATUS_SIGNATURE_MISSING:             KindSignatureMissing,
	C.FRACTAL_STATUS_SIGNATURE_INVALID:             KindSignatureInvalid,
	C.FRACTAL_STATUS_UNSUPPORTED_SIGNATURE_VERSION: KindUnsupportedSignatureVersion,
	C.FRACTAL_STATUS_INVALID_KEY:                   KindInvalidKey,
	C.FRACTAL_STATUS_RING:                          KindRing,
	C.FRACTAL_STATUS_INVALID_ARGUMENT:              KindInvalidArgument,
}

func kindOfStatus(st C.FractalStatus) Kind {
	if int(st) < len(kinds) && kinds[st] != "" {
		return kinds[st]
	}
	return KindInternal
}

// keepAlive is runtime.KeepAlive for several values.
func keepAlive(vs ...any) {
	for _, v := range vs {
		runtime.KeepAlive(v)
	}
}
