package fractal

// #include <fractal.h>
import "C"

import (
	"encoding/json"
	"fmt"
	"math"
)

// Schema is the only accepted value of PCS.Schema.
const Schema = "fractal-lba-kakeya"

// MaxEpoch is the largest epoch that can be signed canonically: 2^53−1.
const MaxEpoch uint64 = 1<<53 - 1

// The three regimes of SPEC §5.
const (
	RegimeSticky    = "sticky"
	RegimeMixed     = "mixed"
	RegimeNonSticky = "non_sticky"
)

// PCS is a Proof-of-Computation Summary (SPEC §1). Its JSON form is the wire
// format. Build one with BuildPCS, read one with ParsePCS.
type PCS struct {
	PCSID      string           `json:"pcs_id"`            // pcs_id(merkle_root, epoch, shard_id), see PCSID
	Schema     string           `json:"schema"`            // always Schema
	Version    string           `json:"version"`           // record format version, e.g. "0.1"
	ShardID    string           `json:"shard_id"`          // the producing shard
	Epoch      uint64           `json:"epoch"`             // 0 ≤ epoch ≤ MaxEpoch
	Attempt    int64            `json:"attempt"`           // delivery attempt (1 for the first)
	SentAt     string           `json:"sent_at,omitempty"` // RFC 3339 sending time, optional
	Seed       int64            `json:"seed"`              // sampling seed
	Scales     []int64          `json:"scales"`            // scales at which N_j was counted
	NJ         map[string]int64 `json:"N_j"`               // counts per scale, keyed by the scale's decimal string
	CohStar    float64          `json:"coh_star"`          // coherence statistic
	VStar      []float64        `json:"v_star"`            // coherence direction
	DHat       float64          `json:"D_hat"`             // reported fractal dimension estimate
	R          float64          `json:"r"`                 // compressibility ratio
	Regime     string           `json:"regime"`            // RegimeSticky, RegimeMixed or RegimeNonSticky
	Budget     float64          `json:"budget"`            // escalation budget
	MerkleRoot string           `json:"merkle_root"`       // Merkle root of the inputs (hex in practice)
	Sig        string           `json:"sig,omitempty"`     // base64 signature over the canonical digest
	FT         *FaultTolerance  `json:"ft,omitempty"`      // optional fault-tolerance metadata
}

// FaultTolerance is the optional `ft` object of a record.
type FaultTolerance struct {
	OutboxSeq   *int64   `json:"outbox_seq,omitempty"`    // sequence number in the agent's outbox
	Degraded    *bool    `json:"degraded,omitempty"`      // whether the agent ran degraded
	Fallbacks   []string `json:"fallbacks,omitempty"`     // fallbacks the agent took
	ClockSkewMs *int64   `json:"clock_skew_ms,omitempty"` // measured clock skew in milliseconds
}

// ParsePCS parses a record strictly (SPEC §1, malformed level) with the core's
// parser: a missing required field, a wrong type, an integer that does not fit
// or a lone surrogate is an *Error of kind KindInvalidField naming the field;
// bytes that are not a JSON object are KindInvalidJSON. Unknown fields are
// ignored; absent optional fields take their defaults (attempt 1).
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
// the core (defaults filled, unknown fields dropped).
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

// MarshalPCS encodes p as wire JSON. NaN and ±Inf cannot travel as JSON: they
// are reported as KindInvalidField naming the field.
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
// escalated, 202 otherwise.
func (r VerifyResult) HTTPStatus() int {
	if r.Accepted && !r.Escalated {
		return 200
	}
	return 202
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
