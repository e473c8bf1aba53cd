package fractal

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"math/rand"
	"strings"
	"sync"
	"testing"
)

// sampleInput is a valid measurement set (the core's BuildInput::example).
func sampleInput() BuildInput {
	return BuildInput{
		MerkleRoot: strings.Repeat("a", 64),
		Epoch:      1,
		ShardID:    "shard-001",
		Scales:     []int64{2, 4, 8, 16, 32},
		NJ:         map[string]int64{"2": 3, "4": 5, "8": 9, "16": 17, "32": 31},
		CohStar:    0.73,
		VStar:      []float64{0.12, 0.98},
		R:          0.87,
		Seed:       42,
	}
}

func mustBuild(t testing.TB) *PCS {
	t.Helper()
	p, err := BuildPCS(sampleInput(), nil)
	if err != nil {
		t.Fatalf("BuildPCS: %v", err)
	}
	return p
}

func TestBuildSignVerifyRoundTrip(t *testing.T) {
	p := mustBuild(t)
	if want := goPCSID(p.MerkleRoot, 1, "shard-001"); p.PCSID != want {
		t.Fatalf("pcs_id = %s, want %s", p.PCSID, want)
	}
	if p.Schema != Schema || p.Version != "0.1" || p.Attempt != 1 || p.Regime == "" {
		t.Fatalf("defaults not filled: %+v", p)
	}
	if err := Validate(p); err != nil {
		t.Fatalf("Validate(built) = %v", err)
	}
	res, err := Verify(p, nil)
	if err != nil || !res.Accepted || res.Escalated || res.HTTPStatus() != 200 {
		t.Fatalf("Verify(built) = %+v, %v", res, err)
	}
	sig, err := SignHMAC(p, []byte("tenant-secret"))
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := MarshalPCS(p)
	if want, _ := goSignHMACV2(wire, []byte("tenant-secret")); sig != want {
		t.Fatalf("SignHMAC = %s, pure Go (v2) says %s", sig, want)
	}
	sig1, err := SignHMAC(p, []byte("tenant-secret"), WithVersion(1))
	if want, _ := goSignHMAC(p, []byte("tenant-secret")); err != nil || sig1 != want {
		t.Fatalf("SignHMAC(v1) = %s, %v; pure Go says %s", sig1, err, want)
	}
	p.Sig = sig
	wire, err = MarshalPCS(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePCS(wire)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(HMACKey([]byte("old-secret")), HMACKey([]byte("tenant-secret")))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.Len() != 2 {
		t.Fatalf("Len = %d", v.Len())
	}
	if err := v.Verify(got); err != nil {
		t.Fatalf("Verify after rotation: %v", err)
	}
}

func TestEd25519AgainstStandardLibrary(t *testing.T) {
	k, err := GenerateEd25519Key()
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	seedB64, _ := k.Seed()
	pubB64, _ := k.PublicKey()
	seed, _ := base64.StdEncoding.DecodeString(seedB64)
	priv := ed25519.NewKeyFromSeed(seed)
	if got := base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)); got != pubB64 {
		t.Fatalf("public key %s, crypto/ed25519 says %s", pubB64, got)
	}
	p := mustBuild(t)
	sig, err := k.Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := MarshalPCS(p)
	if want, _ := goSignEd25519V2(wire, priv); sig != want {
		t.Fatalf("Sign = %s, crypto/ed25519 (v2) says %s", sig, want)
	}
	sig1, _ := k.Sign(p, WithVersion(V1))
	if want, _ := goSignEd25519(p, priv); sig1 != want {
		t.Fatalf("Sign(v1) = %s, crypto/ed25519 says %s", sig1, want)
	}
	p.Sig = sig1
	if !goVerifyEd25519(p, priv.Public().(ed25519.PublicKey)) {
		t.Fatal("crypto/ed25519 rejects the SDK's v1 signature")
	}
	p.Sig = sig
	v, _ := NewVerifier(Ed25519PublicKey(pubB64))
	defer v.Close()
	if err := v.Verify(p); err != nil {
		t.Fatal(err)
	}
	if s, err := SignEd25519(p, seedB64); err != nil || s != sig {
		t.Fatalf("SignEd25519 = %s, %v", s, err)
	}
	if s, err := SignEd25519(p, seedB64, WithVersion(1)); err != nil || s != sig1 {
		t.Fatalf("SignEd25519(v1) = %s, %v", s, err)
	}
}

func TestSignatureEncodingsAreStrict(t *testing.T) {
	p := mustBuild(t)
	sig, _ := SignHMAC(p, []byte("k"))
	v, _ := NewVerifier(HMACKey([]byte("k")))
	defer v.Close()
	mac := strings.TrimPrefix(sig, "v2:")
	raw, _ := base64.StdEncoding.DecodeString(mac)
	for name, bad := range map[string]string{
		"url-safe alphabet": "v2:" + base64.URLEncoding.EncodeToString(raw),
		"missing padding":   strings.TrimRight(sig, "="),
		"whitespace":        sig[:10] + " " + sig[10:],
		"trailing newline":  sig + "\n",
		"truncated":         "v2:" + base64.StdEncoding.EncodeToString(raw[:31]),
		"other key":         func() string { s, _ := SignHMAC(p, []byte("k2")); return s }(),
	} {
		if name == "url-safe alphabet" && bad == sig {
			continue // this MAC happens to have no + or /
		}
		q := *p
		q.Sig = bad
		if err := v.Verify(&q); !errors.Is(err, ErrSignatureInvalid) || !errors.Is(err, ErrSignature) {
			t.Errorf("%s: Verify = %v, want ErrSignatureInvalid", name, err)
		}
	}
	// The prefix names the payload: without it the MAC reads as v1 (refused by
	// a v2-only verifier, invalid where v1 is accepted); an unknown version is
	// refused whatever the policy.
	both, _ := NewVerifier(HMACKey([]byte("k")), AcceptVersions("v1", "v2"))
	defer both.Close()
	for name, c := range map[string]struct {
		v    *Verifier
		sig  string
		kind Kind
	}{
		"v2 MAC without prefix, v2 only": {v, mac, KindUnsupportedSignatureVersion},
		"v2 MAC without prefix, v1+v2":   {both, mac, KindSignatureInvalid},
		"v3 prefix":                      {both, "v3:" + mac, KindUnsupportedSignatureVersion},
		"upper-case prefix, v2 only":     {v, "V2:" + mac, KindUnsupportedSignatureVersion},
		"upper-case prefix, v1+v2":       {both, "V2:" + mac, KindSignatureInvalid},
	} {
		q := *p
		q.Sig = c.sig
		err := c.v.Verify(&q)
		wantErr(t, name, err, c.kind, "sig")
		if !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v does not match ErrSignature", name, err)
		}
	}
	q := *p
	q.Sig = ""
	err := v.Verify(&q)
	wantErr(t, "empty sig", err, KindSignatureMissing, "sig")
	if !errors.Is(err, ErrSignature) {
		t.Error("a missing signature must match ErrSignature")
	}
}

func TestErrorsNameTheField(t *testing.T) {
	p := mustBuild(t)
	bad := *p
	bad.CohStar = 1.2
	wantErr(t, "coh_star out of range", Validate(&bad), KindValidation, "coh_star")
	bad = *p
	bad.Schema = "other"
	wantErr(t, "schema", Validate(&bad), KindValidation, "schema")
	bad = *p
	bad.DHat = math.NaN()
	_, err := CanonicalPayload(&bad)
	wantErr(t, "NaN D_hat (fields)", err, KindInvalidField, "D_hat")
	wantErr(t, "NaN D_hat (JSON)", Validate(&bad), KindInvalidField, "D_hat")
	bad = *p
	bad.VStar = []float64{math.Inf(1)}
	wantErr(t, "Inf v_star", Validate(&bad), KindInvalidField, "v_star[0]")
	bad = *p
	bad.Epoch = MaxEpoch + 1
	_, err = SignHMAC(&bad, []byte("k"))
	wantErr(t, "epoch too large", err, KindInvalidField, "epoch")
	bad = *p
	bad.ShardID = "\xff"
	_, err = CanonicalPayload(&bad, WithVersion(1))
	wantErr(t, "invalid UTF-8 (v1 fields)", err, KindInvalidArgument, "shard_id")
	_, err = CanonicalPayload(&bad)
	wantErr(t, "invalid UTF-8 (v2)", err, KindInvalidField, "shard_id")
	_, err = MarshalPCS(&bad)
	wantErr(t, "invalid UTF-8 (marshal)", err, KindInvalidField, "shard_id")
	bad = *p
	bad.NJ = map[string]int64{"\xfe": 1}
	_, err = MarshalPCS(&bad)
	wantErr(t, "invalid UTF-8 key", err, KindInvalidField, "N_j")
	_, err = SignHMAC(p, []byte("k"), WithVersion(3))
	wantErr(t, "version 3", err, KindInvalidArgument, "version")
	bad = *p
	bad.Extra = map[string]json.RawMessage{"budget": json.RawMessage("1")}
	_, err = MarshalPCS(&bad)
	wantErr(t, "Extra shadowing a field", err, KindInvalidField, "budget")
	bad.Extra = map[string]json.RawMessage{"x": json.RawMessage("{")}
	_, err = SignHMAC(&bad, []byte("k"))
	wantErr(t, "Extra not JSON", err, KindInvalidField, "x")
	bad.Extra = map[string]json.RawMessage{"x": json.RawMessage("9007199254740992")}
	_, err = SignHMAC(&bad, []byte("k"))
	wantErr(t, "integer beyond 2^53-1 in Extra", err, KindInvalidField, "x")

	_, err = ParsePCS([]byte(`{"pcs_id": 7}`))
	wantErr(t, "wrong type", err, KindInvalidField, "pcs_id")
	_, err = ParsePCS([]byte(`"a string"`))
	wantErr(t, "not an object", err, KindInvalidJSON, "")
	_, err = ParsePCS([]byte(`{"pcs_id":`))
	wantErr(t, "truncated", err, KindInvalidJSON, "")
	_, err = SignHMAC(p, nil)
	wantErr(t, "empty HMAC key", err, KindInvalidKey, "")
	_, err = Ed25519KeyFromSeed("not base64!")
	wantErr(t, "bad seed", err, KindInvalidKey, "")
	_, err = NewVerifier(Ed25519PublicKey(base64.StdEncoding.EncodeToString(make([]byte, 31))))
	wantErr(t, "short public key", err, KindInvalidKey, "")
	params := DefaultVerifyParams()
	params.TolD = -1
	_, err = Verify(p, &params)
	wantErr(t, "negative tolerance", err, KindInvalidArgument, "tol_d")
	in := sampleInput()
	in.Scales = []int64{2}
	in.NJ = map[string]int64{"2": 3}
	_, err = BuildPCS(in, nil)
	var e *Error
	if !errors.As(err, &e) || e.Field == "" {
		t.Errorf("BuildPCS with one scale: %v, want an error naming a field", err)
	}

	bad = *p
	bad.R = 2
	if err := Validate(&bad); err == nil || !strings.HasPrefix(err.Error(), "fractal: ") || !strings.Contains(err.Error(), "`r`") {
		t.Errorf("message %q must start with the package name and name the field", err)
	}
}

func TestDefaultVerifyParamsAreTheSpecs(t *testing.T) {
	want := VerifyParams{TolD: 0.15, TolCoh: 0.05, Alpha: 0.30, Beta: 0.50, Gamma: 0.20, Base: 0.10, D0: 2.2, BudgetTol: 0.01}
	if got := DefaultVerifyParams(); got != want {
		t.Fatalf("DefaultVerifyParams = %+v, SPEC §5 says %+v", got, want)
	}
}

func TestVerifyOutcomes(t *testing.T) {
	p := mustBuild(t)
	q := *p
	q.Regime = RegimeNonSticky
	res, err := Verify(&q, nil)
	if err != nil || !res.Accepted || !res.Escalated || res.HTTPStatus() != 202 || !strings.Contains(res.Reason, "regime") {
		t.Fatalf("regime mismatch: %+v, %v", res, err)
	}
	q = *p
	q.DHat += 1
	res, _ = Verify(&q, nil)
	if res.Accepted || !res.Escalated || res.RecomputedDHat == nil || *res.RecomputedDHat != p.DHat {
		t.Fatalf("D_hat mismatch: %+v", res)
	}
	loose := DefaultVerifyParams()
	loose.TolD = 2
	res, _ = Verify(&q, &loose)
	if res.Reason != "" && strings.Contains(res.Reason, "D_hat mismatch") {
		t.Fatalf("a looser tolerance must pass the D_hat check: %+v", res)
	}
}

// Floats and integers must cross Go → JSON → core → JSON → Go bit for bit.
func TestNumbersSurviveTheJSONCarrier(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	base := mustBuild(t)
	for i := 0; i < 3000; i++ {
		p := *base
		xs := make([]float64, 4)
		for j := range xs {
			switch rng.Intn(3) {
			case 0:
				xs[j] = math.Float64frombits(rng.Uint64())
			case 1:
				xs[j] = rng.Float64() * math.Pow(10, float64(rng.Intn(40)-20))
			default:
				xs[j] = float64(rng.Intn(2000000)) / 1e6
			}
			if math.IsNaN(xs[j]) || math.IsInf(xs[j], 0) {
				xs[j] = 0.5
			}
		}
		p.DHat, p.CohStar, p.R, p.Budget = xs[0], xs[1], xs[2], xs[3]
		p.VStar = []float64{xs[1], -xs[2]}
		p.Epoch = uint64(rng.Int63n(int64(MaxEpoch) + 1))
		if i == 0 {
			p.Epoch = MaxEpoch
		}
		p.Seed = rng.Int63() - rng.Int63()
		wire, err := MarshalPCS(&p)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParsePCS(wire)
		if err != nil {
			t.Fatalf("ParsePCS(%s): %v", wire, err)
		}
		for j, pair := range [][2]float64{{p.DHat, back.DHat}, {p.CohStar, back.CohStar}, {p.R, back.R}, {p.Budget, back.Budget}, {p.VStar[1], back.VStar[1]}} {
			if math.Float64bits(pair[0]) != math.Float64bits(pair[1]) {
				t.Fatalf("number %d: sent %v (%x), got back %v (%x)", j, pair[0], math.Float64bits(pair[0]), pair[1], math.Float64bits(pair[1]))
			}
		}
		if back.Epoch != p.Epoch || back.Seed != p.Seed {
			t.Fatalf("integers: sent %d/%d, got %d/%d", p.Epoch, p.Seed, back.Epoch, back.Seed)
		}
		want, gerr := goCanonical(&p)
		got, err := canonicalJSON(wire, V1)
		if (gerr == nil) != (err == nil) || string(got) != string(want) {
			t.Fatalf("v1 canonical of %s:\n core %q (%v)\n Go   %q (%v)", wire, got, err, want, gerr)
		}
		want, gerr = goCanonicalV2(wire)
		got, err = canonicalJSON(wire, V2)
		if (gerr == nil) != (err == nil) || string(got) != string(want) {
			t.Fatalf("v2 canonical of %s:\n core %q (%v)\n Go   %q (%v)", wire, got, err, want, gerr)
		}
	}
}

func TestStringsAreSignedAsJSONStringify(t *testing.T) {
	p := mustBuild(t)
	p.ShardID = "<a&b>\u2028\u2029\"\\\b\f\n\r\t\x01\x1f\x7fé😀"
	p.MerkleRoot = "m\x00"
	p.PCSID, _ = PCSID(p.MerkleRoot, p.Epoch, p.ShardID)
	got, err := CanonicalPayload(p, WithVersion(V1))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := goCanonical(p); string(got) != string(want) {
		t.Fatalf("core %q\n Go  %q", got, want)
	}
	if !strings.Contains(string(got), `"shard_id":"<a&b>`+"\u2028\u2029"+`\"\\\b\f\n\r\t\u0001\u001f`+"\x7fé😀\"") {
		t.Fatalf("escaping differs from JSON.stringify: %q", got)
	}
	wire, _ := MarshalPCS(p) // Go escapes <, >, & and U+2028 as \u003c …
	if c, err := canonicalJSON(wire, V1); err != nil || string(c) != string(got) {
		t.Fatalf("Go's escaped JSON signs differently: %q, %v", c, err)
	}
	v2, err := CanonicalPayload(p)
	if want, _ := goCanonicalV2(wire); err != nil || string(v2) != string(want) {
		t.Fatalf("v2: core %q (%v)\n Go  %q", v2, err, want)
	}
	if !strings.Contains(string(v2), `"shard_id":"<a&b>`+"\u2028\u2029"+`\"\\\b\f\n\r\t\u0001\u001f`+"\x7fé😀\"") {
		t.Fatalf("v2 escaping differs from JSON.stringify: %q", v2)
	}
}

func TestRingOperations(t *testing.T) {
	r, err := NewRing(DefaultVNodes)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Pick("k"); !errors.Is(err, ErrRing) {
		t.Fatalf("pick on an empty ring: %v", err)
	}
	for _, s := range []string{"a", "b", "c"} {
		if err := r.AddShard(s, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.AddShard("a", 1); !errors.Is(err, ErrRing) {
		t.Fatalf("duplicate shard: %v", err)
	}
	wantErr(t, "weight 0", r.AddShard("d", 0), KindInvalidArgument, "weight")
	st, _ := r.Stats()
	if st != (RingStats{Shards: 3, HealthyShards: 3, Points: 450, VNodes: 150}) {
		t.Fatalf("stats %+v", st)
	}
	owner, err := r.Pick("some-pcs-id")
	if err != nil {
		t.Fatal(err)
	}
	all, err := r.PickN("some-pcs-id", 3)
	if err != nil || len(all) != 3 || all[0] != owner {
		t.Fatalf("PickN = %v, %v (owner %s)", all, err, owner)
	}
	if _, err := r.PickN("k", 4); !errors.Is(err, ErrRing) {
		t.Fatalf("PickN beyond the shards: %v", err)
	}
	if err := r.SetHealthy(owner, false); err != nil {
		t.Fatal(err)
	}
	if next, _ := r.Pick("some-pcs-id"); next != all[1] {
		t.Fatalf("with %s down, pick = %s, want the next clockwise %s", owner, next, all[1])
	}
	if err := r.SetHealthy("nope", false); !errors.Is(err, ErrRing) {
		t.Fatalf("unknown shard: %v", err)
	}
	after, _ := NewRing(DefaultVNodes)
	defer after.Close()
	for _, s := range []string{"a", "b", "c", "d"} {
		_ = after.AddShard(s, 1)
	}
	_ = r.SetHealthy(owner, true)
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = goPCSID("m", uint64(i), "s")
	}
	moves, err := r.Plan(after, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(moves) == 0 || len(moves) > 120 {
		t.Fatalf("adding one shard of four moved %d of 200 keys", len(moves))
	}
	for _, m := range moves {
		if m.To != "d" {
			t.Fatalf("adding d moved %s from %s to %s", m.Key, m.From, m.To)
		}
	}
	if same, _ := r.Plan(r, keys); len(same) != 0 {
		t.Fatalf("a ring planned against itself moves %d keys", len(same))
	}
	if err := r.RemoveShard("c"); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveShard("c"); !errors.Is(err, ErrRing) {
		t.Fatalf("removing twice: %v", err)
	}
	if _, err := NewRing(0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("vnodes 0: %v", err)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	r, _ := NewRing(10)
	_ = r.AddShard("a", 1)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Pick("k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("pick after Close: %v", err)
	}
	v, _ := NewVerifier(HMACKey([]byte("k")))
	v.Close()
	v.Close()
	if err := v.Verify(mustBuild(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("verify after Close: %v", err)
	}
	k, _ := GenerateEd25519Key()
	k.Close()
	k.Close()
	if _, err := k.Sign(mustBuild(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("sign after Close: %v", err)
	}
}

// One Ring and one Verifier shared by many goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	r, _ := NewRing(DefaultVNodes)
	defer r.Close()
	shards := map[string]bool{"a": true, "b": true, "c": true, "d": true}
	for s := range shards {
		_ = r.AddShard(s, 1)
	}
	k, _ := GenerateEd25519Key()
	defer k.Close()
	pub, _ := k.PublicKey()
	v, _ := NewVerifier(HMACKey([]byte("h")), Ed25519PublicKey(pub))
	defer v.Close()
	good := mustBuild(t)
	good.Sig, _ = k.Sign(good)
	bad := *good
	bad.Budget += 0.5

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	wg.Add(1)
	go func() { // flips one shard's health while the readers pick
		defer wg.Done()
		for i := 0; i < 300; i++ {
			if err := r.SetHealthy("b", i%2 == 0); err != nil {
				errs <- err
				return
			}
		}
		_ = r.SetHealthy("b", true)
	}()
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				key := goPCSID("m", uint64(g*1000+i), "s")
				owner, err := r.Pick(key)
				if err != nil || !shards[owner] {
					errs <- errors.New("pick: " + owner + " " + errString(err))
					return
				}
				if err := v.Verify(good); err != nil {
					errs <- err
					return
				}
				if err := v.Verify(&bad); !errors.Is(err, ErrSignatureInvalid) {
					errs <- errors.New("tampered record: " + errString(err))
					return
				}
				if s, err := SignHMAC(good, []byte("h")); err != nil || len(s) != 47 {
					errs <- errors.New("sign: " + errString(err))
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
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestVersion(t *testing.T) {
	if Version() == "" {
		t.Fatal("empty version")
	}
}
