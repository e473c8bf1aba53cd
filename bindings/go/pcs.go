package fractal

// #include <fractal.h>
import "C"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"unicode/utf8"
)

// Schema is the only accepted value of PCS.Schema (the core's, from fractal.h).
const Schema = C.FRACTAL_SCHEMA

// MaxEpoch is the largest epoch that can be signed canonically: 2^53−1 (the
// core's, from fractal.h).
const MaxEpoch uint64 = C.FRACTAL_MAX_EPOCH

// The three regimes of SPEC §5 (the core's wire names, from fractal.h).
const (
	RegimeSticky    = C.FRACTAL_REGIME_STICKY
	RegimeMixed     = C.FRACTAL_REGIME_MIXED
	RegimeNonSticky = C.FRACTAL_REGIME_NON_STICKY
)

// PCS is a Proof-of-Computation Summary (SPEC §1). Its JSON form is the wire
// format. Build one with BuildPCS, read one with ParsePCS.
//
// The v2 signature (SPEC §3.2) covers the whole record but its delivery fields
// (Attempt, SentAt, FT, Sig), unknown fields included, exactly as sent. So the
// JSON form keeps what it read: fields this struct does not name are kept in
// Extra and written back, and the optional fields seed, scales, N_j, v_star,
// regime and attempt that the input left out stay out while they hold their
// zero value (Attempt: 1). A record built in Go writes every field; a nil
// Scales, NJ or VStar is written as an empty array or object.
type PCS struct {
	PCSID      string           `json:"pcs_id"`            // pcs_id(merkle_root, epoch, shard_id), see PCSID
	Schema     string           `json:"schema"`            // always Schema
	Version    string           `json:"version"`           // record format version, e.g. "0.1"
	ShardID    string           `json:"shard_id"`          // the producing shard (1–128 bytes)
	Epoch      uint64           `json:"epoch"`             // 0 ≤ epoch ≤ MaxEpoch
	Attempt    int64            `json:"attempt"`           // delivery attempt (1 for the first)
	SentAt     string           `json:"sent_at,omitempty"` // RFC 3339 sending time, optional
	Seed       int64            `json:"seed"`              // sampling seed
	Scales     []int64          `json:"scales"`            // scales at which N_j was counted (at most 64, each ≥ 1)
	NJ         map[string]int64 `json:"N_j"`               // counts per scale, keyed by the scale's decimal string
	CohStar    float64          `json:"coh_star"`          // coherence statistic
	VStar      []float64        `json:"v_star"`            // coherence direction (at most 64)
	DHat       float64          `json:"D_hat"`             // reported fractal dimension estimate
	R          float64          `json:"r"`                 // compressibility ratio
	Regime     string           `json:"regime"`            // RegimeSticky, RegimeMixed or RegimeNonSticky
	Budget     float64          `json:"budget"`            // escalation budget
	MerkleRoot string           `json:"merkle_root"`       // Merkle root of the inputs (hex in practice, 1–128 bytes)
	Sig        string           `json:"sig,omitempty"`     // the signature: base64 (v1) or "v2:" + base64 (v2)
	FT         *FaultTolerance  `json:"ft,omitempty"`      // optional fault-tolerance metadata

	// Extra holds the fields SPEC §1 does not name, each as its JSON text.
	// Verification ignores them; a v2 signature covers them. A key that names
	// one of the fields above is an error when the record is marshaled.
	Extra map[string]json.RawMessage `json:"-"`

	// omitted remembers which optional, signed fields the parsed JSON left
	// out (see the type's comment).
	omitted omittedFields
}

// omittedFields: the optional fields a parsed record left out.
type omittedFields struct {
	seed, scales, nj, vstar, regime, attempt bool
}

// knownFields are the JSON names of the fields of SPEC §1.
var knownFields = map[string]bool{
	"pcs_id": true, "schema": true, "version": true, "shard_id": true, "epoch": true, "attempt": true,
	"sent_at": true, "seed": true, "scales": true, "N_j": true, "coh_star": true, "v_star": true,
	"D_hat": true, "r": true, "regime": true, "budget": true, "merkle_root": true, "sig": true, "ft": true,
}

// pcsWire is the JSON shape of a PCS: nil pointers are the fields left out.
type pcsWire struct {
	PCSID      string            `json:"pcs_id"`
	Schema     string            `json:"schema"`
	Version    string            `json:"version"`
	ShardID    string            `json:"shard_id"`
	Epoch      uint64            `json:"epoch"`
	Attempt    *int64            `json:"attempt,omitempty"`
	SentAt     string            `json:"sent_at,omitempty"`
	Seed       *int64            `json:"seed,omitempty"`
	Scales     *[]int64          `json:"scales,omitempty"`
	NJ         *map[string]int64 `json:"N_j,omitempty"`
	CohStar    float64           `json:"coh_star"`
	VStar      *[]float64        `json:"v_star,omitempty"`
	DHat       float64           `json:"D_hat"`
	R          float64           `json:"r"`
	Regime     *string           `json:"regime,omitempty"`
	Budget     float64           `json:"budget"`
	MerkleRoot string            `json:"merkle_root"`
	Sig        string            `json:"sig,omitempty"`
	FT         *FaultTolerance   `json:"ft,omitempty"`
}

// MarshalJSON writes the record's wire form: the fields of SPEC §1 (optional
// ones the parsed input left out stay out while unchanged), then Extra in key
// order.
func (p PCS) MarshalJSON() ([]byte, error) {
	if err := p.checkUTF8(); err != nil {
		return nil, err
	}
	o := p.omitted
	w := pcsWire{
		PCSID: p.PCSID, Schema: p.Schema, Version: p.Version, ShardID: p.ShardID, Epoch: p.Epoch,
		SentAt: p.SentAt, CohStar: p.CohStar, DHat: p.DHat, R: p.R, Budget: p.Budget,
		MerkleRoot: p.MerkleRoot, Sig: p.Sig, FT: p.FT,
	}
	if !(o.attempt && p.Attempt == 1) {
		w.Attempt = &p.Attempt
	}
	if !(o.seed && p.Seed == 0) {
		w.Seed = &p.Seed
	}
	if !(o.scales && len(p.Scales) == 0) {
		scales := p.Scales
		if scales == nil {
			scales = []int64{}
		}
		w.Scales = &scales
	}
	if !(o.nj && len(p.NJ) == 0) {
		nj := p.NJ
		if nj == nil {
			nj = map[string]int64{}
		}
		w.NJ = &nj
	}
	if !(o.vstar && len(p.VStar) == 0) {
		vstar := p.VStar
		if vstar == nil {
			vstar = []float64{}
		}
		w.VStar = &vstar
	}
	if !(o.regime && p.Regime == "") {
		w.Regime = &p.Regime
	}
	out, err := json.Marshal(w)
	if err != nil || len(p.Extra) == 0 {
		return out, err
	}
	keys := make([]string, 0, len(p.Extra))
	for k := range p.Extra {
		if knownFields[k] {
			return nil, &Error{Kind: KindInvalidField, Field: k,
				Message: fmt.Sprintf("invalid field `%s`: Extra must not hold a field of the record", k)}
		}
		if !json.Valid(p.Extra[k]) {
			return nil, &Error{Kind: KindInvalidField, Field: k,
				Message: fmt.Sprintf("invalid field `%s`: Extra holds text that is not JSON", k)}
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	buf := bytes.NewBuffer(out[:len(out)-1]) // without the closing brace
	for _, k := range keys {
		name, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		buf.WriteByte(',')
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(p.Extra[k])
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// checkUTF8 refuses text that is not UTF-8: encoding/json would send (and the
// core sign) U+FFFD in its place, not what the caller holds.
func (p *PCS) checkUTF8() error {
	for _, f := range []struct{ name, v string }{
		{"pcs_id", p.PCSID}, {"schema", p.Schema}, {"version", p.Version}, {"shard_id", p.ShardID},
		{"sent_at", p.SentAt}, {"regime", p.Regime}, {"merkle_root", p.MerkleRoot}, {"sig", p.Sig},
	} {
		if !utf8.ValidString(f.v) {
			return notUTF8(f.name)
		}
	}
	for k := range p.NJ {
		if !utf8.ValidString(k) {
			return notUTF8("N_j")
		}
	}
	if p.FT != nil {
		for i, s := range p.FT.Fallbacks {
			if !utf8.ValidString(s) {
				return notUTF8(fmt.Sprintf("ft.fallbacks[%d]", i))
			}
		}
	}
	for k := range p.Extra {
		if !utf8.ValidString(k) {
			return notUTF8("Extra")
		}
	}
	return nil
}

func notUTF8(field string) error {
	return &Error{Kind: KindInvalidField, Field: field,
		Message: fmt.Sprintf("invalid field `%s`: is not valid UTF-8", field)}
}

// UnmarshalJSON reads a record's JSON form (leniently, like encoding/json;
// ParsePCS is the strict reader): unknown fields go to Extra, and the optional
// fields it leaves out are remembered so that MarshalJSON leaves them out too.
// Keys match exactly: unlike encoding/json's default, "d_hat" is an unknown
// field, not D_hat (v2 signs both, as different fields).
func (p *PCS) UnmarshalJSON(data []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	*p = PCS{Attempt: 1}
	o := &p.omitted
	o.attempt, o.seed, o.scales, o.nj, o.vstar, o.regime = true, true, true, true, true, true
	for k, v := range all {
		if knownFields[k] && bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue // absent, as encoding/json reads null
		}
		var dst any
		switch k {
		case "pcs_id":
			dst = &p.PCSID
		case "schema":
			dst = &p.Schema
		case "version":
			dst = &p.Version
		case "shard_id":
			dst = &p.ShardID
		case "epoch":
			dst = &p.Epoch
		case "attempt":
			dst, o.attempt = &p.Attempt, false
		case "sent_at":
			dst = &p.SentAt
		case "seed":
			dst, o.seed = &p.Seed, false
		case "scales":
			dst, o.scales = &p.Scales, false
		case "N_j":
			dst, o.nj = &p.NJ, false
		case "coh_star":
			dst = &p.CohStar
		case "v_star":
			dst, o.vstar = &p.VStar, false
		case "D_hat":
			dst = &p.DHat
		case "r":
			dst = &p.R
		case "regime":
			dst, o.regime = &p.Regime, false
		case "budget":
			dst = &p.Budget
		case "merkle_root":
			dst = &p.MerkleRoot
		case "sig":
			dst = &p.Sig
		case "ft":
			dst = &p.FT
		default:
			if p.Extra == nil {
				p.Extra = map[string]json.RawMessage{}
			}
			p.Extra[k] = append(json.RawMessage(nil), v...)
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("field %s: %w", k, err)
		}
	}
	return nil
}

// FaultTolerance is the optional `ft` object of a record.
type FaultTolerance struct {
	OutboxSeq   *int64   `json:"outbox_seq,omitempty"`    // sequence number in the agent's outbox
	Degraded    *bool    `json:"degraded,omitempty"`      // whether the agent ran degraded
	Fallbacks   []string `json:"fallbacks,omitempty"`     // fallbacks the agent took
	ClockSkewMs *int64   `json:"clock_skew_ms,omitempty"` // measured clock skew in milliseconds
}

// ParsePCS parses a record strictly (SPEC §1, malformed level) with the core's
// parser: a missing required field, a wrong type, an integer that does not fit,
// a value past the limits (64 entries, 1–128-byte ids), a key given twice or a
// lone surrogate is an *Error of kind KindInvalidField naming the field; bytes
// that are not a JSON object are KindInvalidJSON. Unknown fields are kept in
// Extra; absent optional fields take their zero values (attempt 1) and stay
// absent when the record is marshaled again, so it signs (v2) as it was sent.
func ParsePCS(data []byte) (*PCS, error) {
	norm, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	var p PCS
	if err := json.Unmarshal(norm, &p); err != nil {
		return nil, &Error{Kind: KindInternal, Message: "decoding the core's JSON: " + err.Error()}
	}
	return &p, nil
}

// parseJSON runs the core's strict parser and returns the record re-encoded by
// the core (unknown fields kept, absent optional fields left out).
func parseJSON(data []byte) ([]byte, error) {
	var out C.FractalBytes
	var cerr C.FractalError
	ptr, n := bytesArg(data)
	st := C.fractal_parse_json(ptr, n, &out, &cerr)
	keepAlive(data)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	return takeBytes(&out), nil
}

// MarshalPCS encodes p as wire JSON (see PCS.MarshalJSON). NaN and ±Inf cannot
// travel as JSON: they are reported as KindInvalidField naming the field, as
// is an Extra key that names a field of the record or holds text that is not
// JSON.
func MarshalPCS(p *PCS) ([]byte, error) {
	if p == nil {
		return nil, argError("pcs", "is nil")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"D_hat", p.DHat}, {"coh_star", p.CohStar}, {"r", p.R}, {"budget", p.Budget}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return nil, nonFinite(f.name)
		}
	}
	for i, v := range p.VStar {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nonFinite(fmt.Sprintf("v_star[%d]", i))
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, &Error{Kind: KindInvalidField, Message: err.Error()}
	}
	return b, nil
}

func nonFinite(field string) error {
	return &Error{Kind: KindInvalidField, Field: field,
		Message: fmt.Sprintf("invalid field `%s`: must be a finite number (NaN and Infinity cannot be sent)", field)}
}

// Validate runs SDK validation (SPEC §1) before a record is signed or sent:
// structure, schema, pcs_id match, 0 ≤ coh_star ≤ 1.05, 0 ≤ r ≤ 1,
// 0 ≤ budget ≤ 1 and a known regime. A failure is an *Error of kind
// KindValidation naming the field.
func Validate(p *PCS) error {
	b, err := MarshalPCS(p)
	if err != nil {
		return err
	}
	return ValidateJSON(b)
}

// ValidateJSON parses a record given as JSON (strictly) and validates it.
func ValidateJSON(data []byte) error {
	var cerr C.FractalError
	ptr, n := bytesArg(data)
	st := C.fractal_validate_json(ptr, n, &cerr)
	keepAlive(data)
	return check(st, &cerr)
}

// VerifyParams are the verification parameters of SPEC §5. Start from
// DefaultVerifyParams and change what you need.
type VerifyParams struct {
	TolD      float64 `json:"tol_d"`      // tolerance on |D_hat − recomputed_D_hat| (0.15)
	TolCoh    float64 `json:"tol_coh"`    // tolerance above 1 for coh_star (0.05)
	Alpha     float64 `json:"alpha"`      // budget weight of 1 − r (0.30)
	Beta      float64 `json:"beta"`       // budget weight of max(0, D_hat − D0) (0.50)
	Gamma     float64 `json:"gamma"`      // budget weight of coh_star (0.20)
	Base      float64 `json:"base"`       // budget base (0.10)
	D0        float64 `json:"d0"`         // dimension threshold of the budget (2.2)
	BudgetTol float64 `json:"budget_tol"` // tolerance on |budget − recomputed_budget| (0.01)
}

// DefaultVerifyParams returns the contract's defaults (read from the core).
func DefaultVerifyParams() VerifyParams {
	var c C.FractalVerifyParams
	C.fractal_verify_params_default(&c)
	return VerifyParams{
		TolD: float64(c.tol_d), TolCoh: float64(c.tol_coh), Alpha: float64(c.alpha), Beta: float64(c.beta),
		Gamma: float64(c.gamma), Base: float64(c.base), D0: float64(c.d0), BudgetTol: float64(c.budget_tol),
	}
}

func (p *VerifyParams) c() *C.FractalVerifyParams {
	if p == nil {
		return nil
	}
	return &C.FractalVerifyParams{
		tol_d: C.double(p.TolD), tol_coh: C.double(p.TolCoh), alpha: C.double(p.Alpha), beta: C.double(p.Beta),
		gamma: C.double(p.Gamma), base: C.double(p.Base), d0: C.double(p.D0), budget_tol: C.double(p.BudgetTol),
	}
}

// VerifyResult is the outcome of verification (SPEC §5); its JSON form is the
// server's answer body.
type VerifyResult struct {
	Accepted         bool     `json:"accepted"`                    // whether the record is accepted
	Escalated        bool     `json:"escalated"`                   // whether it needs a closer look
	RecomputedDHat   *float64 `json:"recomputed_D_hat,omitempty"`  // Theil–Sen estimate, when it could be computed
	RecomputedBudget *float64 `json:"recomputed_budget,omitempty"` // recomputed budget, when verification got that far
	Reason           string   `json:"reason,omitempty"`            // why the record was not plainly accepted
}

// HTTPStatus is the status the server answers with: 200 when accepted and not
// escalated, 202 otherwise (the core's rule).
func (r VerifyResult) HTTPStatus() int {
	return int(C.fractal_http_status(C.bool(r.Accepted), C.bool(r.Escalated)))
}

// Verify runs the verification engine (SPEC §5) under params (nil: the
// defaults). Semantic problems are outcomes, not errors: the error is non-nil
// only when the record cannot travel as JSON or a parameter is invalid.
func Verify(p *PCS, params *VerifyParams) (VerifyResult, error) {
	b, err := MarshalPCS(p)
	if err != nil {
		return VerifyResult{}, err
	}
	return VerifyJSON(b, params)
}

// VerifyJSON verifies a record given as JSON (parsed strictly).
func VerifyJSON(data []byte, params *VerifyParams) (VerifyResult, error) {
	var out C.FractalVerifyResult
	var cerr C.FractalError
	ptr, n := bytesArg(data)
	st := C.fractal_verify_json(ptr, n, params.c(), &out, &cerr)
	keepAlive(data)
	if err := check(st, &cerr); err != nil {
		return VerifyResult{}, err
	}
	res := VerifyResult{Accepted: bool(out.accepted), Escalated: bool(out.escalated)}
	if out.has_recomputed_d_hat {
		v := float64(out.recomputed_d_hat)
		res.RecomputedDHat = &v
	}
	if out.has_recomputed_budget {
		v := float64(out.recomputed_budget)
		res.RecomputedBudget = &v
	}
	if out.reason != nil {
		res.Reason = C.GoString(out.reason)
	}
	C.fractal_verify_result_free(&out)
	return res, nil
}

// BuildInput is what an agent measured; BuildPCS derives the rest.
type BuildInput struct {
	MerkleRoot string           `json:"merkle_root"`       // Merkle root of the computation's inputs
	Epoch      uint64           `json:"epoch"`             // 0 ≤ epoch ≤ MaxEpoch
	ShardID    string           `json:"shard_id"`          // the producing shard
	Scales     []int64          `json:"scales"`            // scales at which counts were taken
	NJ         map[string]int64 `json:"N_j"`               // counts per scale, keyed by the decimal scale
	CohStar    float64          `json:"coh_star"`          // coherence statistic
	R          float64          `json:"r"`                 // compressibility ratio
	VStar      []float64        `json:"v_star,omitempty"`  // coherence direction
	Version    string           `json:"version,omitempty"` // default "0.1"
	Attempt    int64            `json:"attempt,omitempty"` // default 1
	SentAt     string           `json:"sent_at,omitempty"` // RFC 3339, optional
	Seed       int64            `json:"seed"`              // sampling seed
	FT         *FaultTolerance  `json:"ft,omitempty"`      // optional fault-tolerance metadata
}

// BuildPCS builds a complete, valid, unsigned record: pcs_id (SPEC §2), D_hat
// by Theil–Sen, regime by classification and budget under params (nil: the
// defaults) — with the very functions the verifier uses, so the record
// verifies by construction. Measurements that cannot make a valid record give
// an *Error naming the field.
func BuildPCS(in BuildInput, params *VerifyParams) (*PCS, error) {
	for _, f := range []struct {
		name string
		v    float64
	}{{"coh_star", in.CohStar}, {"r", in.R}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return nil, nonFinite(f.name)
		}
	}
	for i, v := range in.VStar {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nonFinite(fmt.Sprintf("v_star[%d]", i))
		}
	}
	data, err := json.Marshal(in)
	if err != nil {
		return nil, &Error{Kind: KindInvalidField, Message: err.Error()}
	}
	var out C.FractalBytes
	var cerr C.FractalError
	ptr, n := bytesArg(data)
	st := C.fractal_build_pcs_json(ptr, n, params.c(), &out, &cerr)
	keepAlive(data)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	var p PCS
	if err := json.Unmarshal(takeBytes(&out), &p); err != nil {
		return nil, &Error{Kind: KindInternal, Message: "decoding the core's JSON: " + err.Error()}
	}
	return &p, nil
}
