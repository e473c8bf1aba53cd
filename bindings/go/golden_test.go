package fractal

// Every case of every file in ../../golden (SPEC §8), read from the files: a
// file this test does not know, or a file whose case count disagrees with its
// numberOfTests, fails the suite.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

const goldenDir = "../../golden"

type goldenFile struct {
	Algorithm     string            `json:"algorithm"`
	NumberOfTests int               `json:"numberOfTests"`
	TestGroups    []json.RawMessage `json:"testGroups"`
}

type goldenCase struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"`
}

// goldenFiles lists golden/*.json; no vectors at all is a failure.
func goldenFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no golden vectors in %s (run `make golden`)", goldenDir)
	}
	return files
}

var goldenRunners = map[string]func(t *testing.T, raw []byte, group json.RawMessage, file map[string]json.RawMessage) int{
	"canonical.json": runCanonicalGroup,
	"verify.json":    runVerifyGroup,
	"ring.json":      runRingGroup,
	"reject.json":    runRejectGroup,
}

func TestGolden(t *testing.T) {
	seen := map[string]bool{}
	for _, path := range goldenFiles(t) {
		name := filepath.Base(path)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			run, ok := goldenRunners[name]
			if !ok {
				t.Fatalf("golden file %s has no runner in the Go suite: add one", name)
			}
			var f goldenFile
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var top map[string]json.RawMessage
			_ = json.Unmarshal(raw, &top)
			ran := 0
			for _, g := range f.TestGroups {
				ran += run(t, raw, g, top)
			}
			if ran != f.NumberOfTests || ran == 0 {
				t.Fatalf("%s: ran %d cases, numberOfTests says %d", name, ran, f.NumberOfTests)
			}
			t.Logf("%s: %d cases", name, ran)
		})
	}
	for name := range goldenRunners {
		if !seen[name] {
			t.Errorf("golden/%s is missing", name)
		}
	}
}

// groupString reads a string setting from the group, else from the file.
func groupString(group map[string]json.RawMessage, file map[string]json.RawMessage, key string) string {
	for _, m := range []map[string]json.RawMessage{group, file} {
		if v, ok := m[key]; ok {
			var s string
			if json.Unmarshal(v, &s) == nil {
				return s
			}
		}
	}
	return ""
}

func caseName(c goldenCase) string {
	return "tc" + itoa(c.TcID) + "_" + c.Comment
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// wantErr checks that err is an *Error of kind and naming field (empty: none).
func wantErr(t *testing.T, what string, err error, kind Kind, field string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%s: want a %s error naming %q, got %v", what, kind, field, err)
		return
	}
	if e.Kind != kind || e.Field != field {
		t.Errorf("%s: want kind %s field %q, got kind %s field %q (%v)", what, kind, field, e.Kind, e.Field, e)
	}
	if !errors.Is(err, sentinels[kind]) {
		t.Errorf("%s: errors.Is(err, sentinel of %s) is false", what, kind)
	}
}

// ---------------------------------------------------------------- canonical

type canonicalGroup struct {
	Tests []struct {
		goldenCase
		Record   json.RawMessage `json:"record"`
		Expected struct {
			PCSID      string `json:"pcs_id"`
			Canonical  string `json:"canonical"`
			DigestHex  string `json:"digest_hex"`
			SigHMAC    string `json:"sig_hmac"`
			SigEd25519 string `json:"sig_ed25519"`
		} `json:"expected"`
	} `json:"tests"`
}

// tamperings change one signed field each so that the canonical payload changes.
var tamperings = []struct {
	field string
	apply func(p *PCS)
}{
	{"pcs_id", func(p *PCS) { p.PCSID += "0" }},
	{"merkle_root", func(p *PCS) { p.MerkleRoot += "0" }},
	{"epoch", func(p *PCS) {
		if p.Epoch == MaxEpoch {
			p.Epoch--
		} else {
			p.Epoch++
		}
	}},
	{"shard_id", func(p *PCS) { p.ShardID += "x" }},
	{"D_hat", func(p *PCS) { p.DHat = nudge(p.DHat) }},
	{"coh_star", func(p *PCS) { p.CohStar = nudge(p.CohStar) }},
	{"r", func(p *PCS) { p.R = nudge(p.R) }},
	{"budget", func(p *PCS) { p.Budget = nudge(p.Budget) }},
}

// nudge changes x by more than the 9-decimal rounding can hide.
func nudge(x float64) float64 {
	if math.Abs(x) < 1e15 {
		return x + 0.5
	}
	return x / 2
}

func runCanonicalGroup(t *testing.T, _ []byte, raw json.RawMessage, file map[string]json.RawMessage) int {
	var g canonicalGroup
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("canonical group: %v", err)
	}
	var settings map[string]json.RawMessage
	_ = json.Unmarshal(raw, &settings)
	hmacKey := []byte(groupString(settings, file, "hmac_key"))
	seed := groupString(settings, file, "ed25519_seed")
	public := groupString(settings, file, "ed25519_public")

	key, err := Ed25519KeyFromSeed(seed)
	if err != nil {
		t.Fatalf("group seed: %v", err)
	}
	defer key.Close()
	if got, _ := key.PublicKey(); got != public {
		t.Errorf("public key of the group's seed: got %s, want %s", got, public)
	}
	verifier, err := NewVerifier(HMACKey(hmacKey), Ed25519PublicKey(public))
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	defer verifier.Close()

	for _, c := range g.Tests {
		t.Run(caseName(c.goldenCase), func(t *testing.T) {
			if c.Result != "valid" {
				t.Fatalf("canonical cases are all valid, got %q", c.Result)
			}
			want := c.Expected
			p, err := ParsePCS(c.Record)
			if err != nil {
				t.Fatalf("ParsePCS: %v", err)
			}
			if id, err := PCSID(p.MerkleRoot, p.Epoch, p.ShardID); err != nil || id != want.PCSID {
				t.Errorf("PCSID = %q, %v; want %q", id, err, want.PCSID)
			}
			if got, err := CanonicalPayload(p); err != nil || string(got) != want.Canonical {
				t.Errorf("CanonicalPayload (fields) = %q, %v\n want %q", got, err, want.Canonical)
			}
			if got, err := canonicalJSON(c.Record); err != nil || string(got) != want.Canonical {
				t.Errorf("canonical (JSON path) = %q, %v\n want %q", got, err, want.Canonical)
			}
			if d, err := Digest(p); err != nil || hex.EncodeToString(d[:]) != want.DigestHex {
				t.Errorf("Digest = %x, %v; want %s", d, err, want.DigestHex)
			}
			if got, err := SignHMAC(p, hmacKey); err != nil || got != want.SigHMAC {
				t.Errorf("SignHMAC = %q, %v; want %q", got, err, want.SigHMAC)
			}
			if got, err := signHMACJSON(c.Record, hmacKey); err != nil || got != want.SigHMAC {
				t.Errorf("SignHMAC (JSON path) = %q, %v; want %q", got, err, want.SigHMAC)
			}
			if got, err := key.Sign(p); err != nil || got != want.SigEd25519 {
				t.Errorf("Ed25519Key.Sign = %q, %v; want %q", got, err, want.SigEd25519)
			}
			if got, err := key.signJSON(c.Record); err != nil || got != want.SigEd25519 {
				t.Errorf("Ed25519 sign (JSON path) = %q, %v; want %q", got, err, want.SigEd25519)
			}
			if got, err := SignEd25519(p, seed); err != nil || got != want.SigEd25519 {
				t.Errorf("SignEd25519 = %q, %v; want %q", got, err, want.SigEd25519)
			}
			// Go → JSON → core must carry the record exactly: sign what Go marshals.
			if b, err := MarshalPCS(p); err != nil {
				t.Errorf("MarshalPCS: %v", err)
			} else if got, err := canonicalJSON(b); err != nil || string(got) != want.Canonical {
				t.Errorf("canonical of Go's JSON = %q, %v; want %q", got, err, want.Canonical)
			}

			for _, sig := range []string{want.SigHMAC, want.SigEd25519} {
				signed := *p
				signed.Sig = sig
				if err := verifier.Verify(&signed); err != nil {
					t.Errorf("Verify(expected sig %.12s…): %v", sig, err)
				}
				b, _ := MarshalPCS(&signed)
				if err := verifier.VerifyJSON(b); err != nil {
					t.Errorf("VerifyJSON(expected sig %.12s…): %v", sig, err)
				}
				for _, tm := range tamperings {
					changed := signed
					tm.apply(&changed)
					err := verifier.Verify(&changed)
					if !errors.Is(err, ErrSignatureInvalid) {
						t.Errorf("after changing %s, Verify = %v; want ErrSignatureInvalid", tm.field, err)
					}
				}
			}
		})
	}
	return len(g.Tests)
}

// The pure-Go baseline of the benchmarks must compute the same bytes, or the
// benchmark would compare different work.
func TestPureGoBaselineMatchesGolden(t *testing.T) {
	for _, path := range goldenFiles(t) {
		if filepath.Base(path) != "canonical.json" {
			continue
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var f goldenFile
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, gr := range f.TestGroups {
			var g canonicalGroup
			if err := json.Unmarshal(gr, &g); err != nil {
				t.Fatal(err)
			}
			var settings map[string]json.RawMessage
			_ = json.Unmarshal(gr, &settings)
			key := []byte(groupString(settings, nil, "hmac_key"))
			for _, c := range g.Tests {
				p, err := ParsePCS(c.Record)
				if err != nil {
					t.Fatalf("tc%d: %v", c.TcID, err)
				}
				got, err := goCanonical(p)
				if err != nil || string(got) != c.Expected.Canonical {
					t.Errorf("tc%d: pure Go canonical = %q, %v; want %q", c.TcID, got, err, c.Expected.Canonical)
				}
				if s, _ := goSignHMAC(p, key); s != c.Expected.SigHMAC {
					t.Errorf("tc%d: pure Go HMAC = %q; want %q", c.TcID, s, c.Expected.SigHMAC)
				}
				if id := goPCSID(p.MerkleRoot, p.Epoch, p.ShardID); id != c.Expected.PCSID {
					t.Errorf("tc%d: pure Go pcs_id = %q; want %q", c.TcID, id, c.Expected.PCSID)
				}
				n++
			}
		}
		if n == 0 {
			t.Fatal("canonical.json has no cases")
		}
		return
	}
	t.Fatal("golden/canonical.json is missing")
}

// ---------------------------------------------------------------- verify

type verifyGroup struct {
	Params json.RawMessage `json:"params"`
	Tests  []struct {
		goldenCase
		Record   json.RawMessage `json:"record"`
		Expected struct {
			Accepted         bool     `json:"accepted"`
			Escalated        bool     `json:"escalated"`
			RecomputedDHat   *float64 `json:"recomputed_D_hat"`
			RecomputedBudget *float64 `json:"recomputed_budget"`
			Reason           *string  `json:"reason"`
		} `json:"expected"`
	} `json:"tests"`
}

func sameOptional(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func showOptional(a *float64) string {
	if a == nil {
		return "absent"
	}
	b, _ := json.Marshal(*a)
	return string(b)
}

func runVerifyGroup(t *testing.T, _ []byte, raw json.RawMessage, _ map[string]json.RawMessage) int {
	var g verifyGroup
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("verify group: %v", err)
	}
	params := DefaultVerifyParams()
	if len(g.Params) > 0 && string(g.Params) != "null" {
		dec := json.NewDecoder(bytes.NewReader(g.Params))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&params); err != nil {
			t.Fatalf("verify group params: %v", err)
		}
	}
	for _, c := range g.Tests {
		t.Run(caseName(c.goldenCase), func(t *testing.T) {
			want := c.Expected
			wantReason := ""
			if want.Reason != nil {
				wantReason = *want.Reason
			}
			if (c.Result == "valid") != (want.Accepted && !want.Escalated) {
				t.Fatalf("case says result %q but expects accepted=%v escalated=%v", c.Result, want.Accepted, want.Escalated)
			}
			check := func(path string, got VerifyResult, err error) {
				if err != nil {
					t.Errorf("%s: %v", path, err)
					return
				}
				if got.Accepted != want.Accepted || got.Escalated != want.Escalated ||
					!sameOptional(got.RecomputedDHat, want.RecomputedDHat) ||
					!sameOptional(got.RecomputedBudget, want.RecomputedBudget) || got.Reason != wantReason {
					t.Errorf("%s:\n got  accepted=%v escalated=%v D=%s budget=%s reason=%q\n want accepted=%v escalated=%v D=%s budget=%s reason=%q",
						path, got.Accepted, got.Escalated, showOptional(got.RecomputedDHat), showOptional(got.RecomputedBudget), got.Reason,
						want.Accepted, want.Escalated, showOptional(want.RecomputedDHat), showOptional(want.RecomputedBudget), wantReason)
				}
			}
			got, err := VerifyJSON(c.Record, &params)
			check("VerifyJSON", got, err)
			p, err := ParsePCS(c.Record)
			if err != nil {
				t.Fatalf("ParsePCS: %v", err)
			}
			got, err = Verify(p, &params)
			check("Verify(ParsePCS)", got, err)
		})
	}
	return len(g.Tests)
}

// ---------------------------------------------------------------- ring

type ringGroup struct {
	VNodes int `json:"vnodes"`
	Shards []struct {
		Name    string `json:"name"`
		Weight  *int   `json:"weight"`
		Healthy *bool  `json:"healthy"`
	} `json:"shards"`
	Tests []struct {
		goldenCase
		Op        string          `json:"op"`
		Key       string          `json:"key"`
		N         int             `json:"n"`
		Expected  json.RawMessage `json:"expected"`
		ErrorKind string          `json:"error_kind"`
	} `json:"tests"`
}

func runRingGroup(t *testing.T, _ []byte, raw json.RawMessage, _ map[string]json.RawMessage) int {
	var g ringGroup
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("ring group: %v", err)
	}
	vnodes := g.VNodes
	if vnodes == 0 {
		vnodes = DefaultVNodes
	}
	ring, err := NewRing(vnodes)
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	for _, s := range g.Shards {
		w := 1
		if s.Weight != nil {
			w = *s.Weight
		}
		if err := ring.AddShard(s.Name, w); err != nil {
			t.Fatalf("AddShard(%q): %v", s.Name, err)
		}
		if s.Healthy != nil && !*s.Healthy {
			if err := ring.SetHealthy(s.Name, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range g.Tests {
		t.Run(caseName(c.goldenCase), func(t *testing.T) {
			var got any
			var err error
			switch c.Op {
			case "pick":
				got, err = ring.Pick(c.Key)
			case "pick_n":
				got, err = ring.PickN(c.Key, c.N)
			default:
				t.Fatalf("unknown op %q", c.Op)
			}
			if c.Result == "invalid" {
				wantErr(t, c.Op, err, Kind(c.ErrorKind), fieldOfKind(Kind(c.ErrorKind), err))
				return
			}
			if err != nil {
				t.Fatalf("%s(%q): %v", c.Op, c.Key, err)
			}
			gotJSON, _ := json.Marshal(got)
			var want any
			_ = json.Unmarshal(c.Expected, &want)
			wantJSON, _ := json.Marshal(want)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("%s(%q, %d) = %s; want %s", c.Op, c.Key, c.N, gotJSON, wantJSON)
			}
		})
	}
	return len(g.Tests)
}

// fieldOfKind: ring errors name no field; argument errors name theirs.
func fieldOfKind(k Kind, err error) string {
	var e *Error
	if k == KindRing || !errors.As(err, &e) {
		return ""
	}
	return e.Field
}

// ---------------------------------------------------------------- reject

type rejectGroup struct {
	Tests []struct {
		goldenCase
		Stage     string  `json:"stage"`
		Input     string  `json:"input"`
		ErrorKind string  `json:"error_kind"`
		Field     *string `json:"field"`
		KeyType   string  `json:"key_type"`
	} `json:"tests"`
}

func runRejectGroup(t *testing.T, _ []byte, raw json.RawMessage, file map[string]json.RawMessage) int {
	var g rejectGroup
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("reject group: %v", err)
	}
	var settings map[string]json.RawMessage
	_ = json.Unmarshal(raw, &settings)
	for _, c := range g.Tests {
		t.Run(caseName(c.goldenCase), func(t *testing.T) {
			if c.Result != "invalid" {
				t.Fatalf("reject cases are all invalid, got %q", c.Result)
			}
			kind := Kind(c.ErrorKind)
			field := ""
			if c.Field != nil {
				field = *c.Field
			}
			in := []byte(c.Input)
			switch c.Stage {
			case "parse":
				_, err := ParsePCS(in)
				wantErr(t, "ParsePCS", err, kind, field)
				wantErr(t, "ValidateJSON", ValidateJSON(in), kind, field)
				_, err = VerifyJSON(in, nil)
				wantErr(t, "VerifyJSON", err, kind, field)
			case "validate":
				p, err := ParsePCS(in)
				if err != nil {
					t.Fatalf("ParsePCS must succeed: %v", err)
				}
				wantErr(t, "Validate", Validate(p), kind, field)
				wantErr(t, "ValidateJSON", ValidateJSON(in), kind, field)
			case "sign":
				p, err := ParsePCS(in)
				if err != nil {
					t.Fatalf("ParsePCS must succeed: %v", err)
				}
				_, err = CanonicalPayload(p)
				wantErr(t, "CanonicalPayload", err, kind, field)
				_, err = canonicalJSON(in)
				wantErr(t, "canonical (JSON path)", err, kind, field)
				_, err = SignHMAC(p, []byte("k"))
				wantErr(t, "SignHMAC", err, kind, field)
			case "verify_signature":
				p, err := ParsePCS(in)
				if err != nil {
					t.Fatalf("ParsePCS must succeed: %v", err)
				}
				keys := []Key{HMACKey([]byte(groupString(settings, file, "hmac_key")))}
				if pub := groupString(settings, file, "ed25519_public"); pub != "" {
					keys = append(keys, Ed25519PublicKey(pub))
				}
				v, err := NewVerifier(keys...)
				if err != nil {
					t.Fatalf("NewVerifier: %v", err)
				}
				defer v.Close()
				wantErr(t, "Verifier.Verify", v.Verify(p), kind, field)
				wantErr(t, "Verifier.VerifyJSON", v.VerifyJSON(in), kind, field)
			case "key":
				var err error
				switch c.KeyType {
				case "seed":
					var k *Ed25519Key
					k, err = Ed25519KeyFromSeed(c.Input)
					if k != nil {
						k.Close()
					}
				case "public":
					var v *Verifier
					v, err = NewVerifier(Ed25519PublicKey(c.Input))
					if v != nil {
						v.Close()
					}
				case "hmac":
					var v *Verifier
					v, err = NewVerifier(HMACKey([]byte(c.Input)))
					if v != nil {
						v.Close()
					}
				default:
					t.Fatalf("unknown key_type %q", c.KeyType)
				}
				wantErr(t, "key "+c.KeyType, err, kind, field)
			default:
				t.Fatalf("unknown stage %q", c.Stage)
			}
		})
	}
	return len(g.Tests)
}
