package fractal_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	fractal "github.com/fractal-lba/fractal-lba/bindings/go"
)

// The SPEC §3 example record (golden/canonical.json, tcId 1). The outputs
// below are the values the golden oracle (Node's JSON.stringify and
// node:crypto) computed for it.
func specRecord() *fractal.PCS {
	return &fractal.PCS{
		PCSID:      "a687cafc6f56b4da5a9854606076663877ea5e3660cd739af9147d0904665da2",
		Schema:     fractal.Schema,
		Version:    "0.1",
		ShardID:    "shard-001",
		Epoch:      1,
		Attempt:    1,
		Seed:       42,
		Scales:     []int64{2, 4, 8, 16, 32},
		NJ:         map[string]int64{"2": 3, "4": 7, "8": 19, "16": 50, "32": 133},
		CohStar:    0.73,
		VStar:      []float64{0.12, 0.98},
		DHat:       1.41,
		R:          0.87,
		Regime:     fractal.RegimeSticky,
		Budget:     0.42,
		MerkleRoot: strings.Repeat("a", 64),
	}
}

// SignHMAC signs the v2 payload by default (golden/canonical_v2.json, tcId 1);
// WithVersion(1) signs the seed's v1 payload (golden/canonical.json, tcId 1).
func ExampleSignHMAC() {
	p := specRecord()
	key := []byte("golden-hmac-key/v1/κλειδί")
	sig, err := fractal.SignHMAC(p, key)
	if err != nil {
		panic(err)
	}
	fmt.Println(sig)
	v1, _ := fractal.SignHMAC(p, key, fractal.WithVersion(1))
	fmt.Println(v1)
	// Output:
	// v2:5th6cjNZH+d8zmUObaM40rWRDHa8mkOdgGw3Vw8jzgs=
	// Mttc0cH+0fAjegaAYxHi65Rc9VUC9z8FHwnW7YPPx0o=
}

// The v2 payload is the whole record but its delivery fields (sig, attempt,
// sent_at, ft); the v1 payload is the eight fields the seed signed.
func ExampleCanonicalPayload() {
	p := specRecord()
	v2, _ := fractal.CanonicalPayload(p)
	fmt.Println(string(v2))
	v1, _ := fractal.CanonicalPayload(p, fractal.WithVersion(fractal.V1))
	fmt.Println(string(v1))
	// Output:
	// {"D_hat":1.41,"N_j":{"16":50,"2":3,"32":133,"4":7,"8":19},"budget":0.42,"coh_star":0.73,"epoch":1,"merkle_root":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","pcs_id":"a687cafc6f56b4da5a9854606076663877ea5e3660cd739af9147d0904665da2","r":0.87,"regime":"sticky","scales":[2,4,8,16,32],"schema":"fractal-lba-kakeya","seed":42,"shard_id":"shard-001","v_star":[0.12,0.98],"version":"0.1"}
	// {"D_hat":1.41,"budget":0.42,"coh_star":0.73,"epoch":1,"merkle_root":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","pcs_id":"a687cafc6f56b4da5a9854606076663877ea5e3660cd739af9147d0904665da2","r":0.87,"shard_id":"shard-001"}
}

// Fields the struct does not name are kept in Extra, written back and signed
// by v2; optional fields the input left out stay out.
func ExampleParsePCS() {
	wire := `{"pcs_id":"a687cafc6f56b4da5a9854606076663877ea5e3660cd739af9147d0904665da2",` +
		`"schema":"fractal-lba-kakeya","version":"0.1","shard_id":"shard-001","epoch":1,` +
		`"coh_star":0.73,"D_hat":1.41,"r":0.87,"budget":0.42,` +
		`"merkle_root":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","model":{"name":"m-7"}}`
	p, err := fractal.ParsePCS([]byte(wire))
	if err != nil {
		panic(err)
	}
	fmt.Println(string(p.Extra["model"]), p.Attempt)
	back, _ := fractal.MarshalPCS(p)
	fmt.Println(string(back) == wire)
	payload, _ := fractal.CanonicalPayload(p)
	fmt.Println(strings.Contains(string(payload), `"model":{"name":"m-7"}`))
	// Output:
	// {"name":"m-7"} 1
	// true
	// true
}

func ExamplePCSID() {
	id, _ := fractal.PCSID(strings.Repeat("a", 64), 1, "shard-001")
	fmt.Println(id)
	// Output: a687cafc6f56b4da5a9854606076663877ea5e3660cd739af9147d0904665da2
}

func ExampleEd25519KeyFromSeed() {
	key, err := fractal.Ed25519KeyFromSeed("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=")
	if err != nil {
		panic(err)
	}
	defer key.Close()
	pub, _ := key.PublicKey()
	sig, _ := key.Sign(specRecord())
	v1, _ := key.Sign(specRecord(), fractal.WithVersion(1))
	fmt.Println(pub)
	fmt.Println(sig)
	fmt.Println(v1)
	// Output:
	// ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=
	// v2:UCSOx9oWm0xlaUjbW/xE1654Gl38yAqoyWN5i1UPJqA+JNNGDqwIVB2gD+DjqCo/sYvUYNsUcbV4ylOzqLbWCg==
	// M+DTY6ifemcLv5udR+iEOwj9v1Fp0UTL2KOtfN2cWRFg0HLbelBmTiCuMsucnTs5wkNGuhbBm/JRxtemyILNCw==
}

// A signed read (SPEC §6.1): the header a Client's Get sends, checked as the
// server checks it (golden/read.json, tcId 2).
func ExampleSignReadHMAC() {
	key := []byte("golden-hmac-key/v1/κλειδί")
	id := "a687cafc6f56b4da5a9854606076663877ea5e3660cd739af9147d0904665da2"
	at := time.Unix(1767225600, 0)
	header, _ := fractal.SignReadHMAC(key, "acme", id, at)
	fmt.Println(header)

	v, _ := fractal.NewVerifier(fractal.HMACKey(key))
	defer v.Close()
	fmt.Println(v.VerifyRead("acme", id, header, at.Add(10*time.Second)) == nil)
	err := v.VerifyRead("acme", id, header, at.Add(10*time.Minute)) // stale
	fmt.Println(errors.Is(err, fractal.ErrSignatureInvalid))
	// Output:
	// Fractal t=1767225600, sig=4P5CXXWn3JkwPbAIbHGl5nBvSDmpt+eauCQiUr7Gqok=
	// true
	// true
}

func ExampleNewVerifier() {
	// Rotation: records signed under the old or the new secret both verify.
	v, err := fractal.NewVerifier(
		fractal.HMACKey([]byte("old-secret")),
		fractal.HMACKey([]byte("golden-hmac-key/v1/κλειδί")),
	)
	if err != nil {
		panic(err)
	}
	defer v.Close()

	p := specRecord()
	p.Sig = "v2:5th6cjNZH+d8zmUObaM40rWRDHa8mkOdgGw3Vw8jzgs="
	fmt.Println(v.Verify(p) == nil)

	p.Regime = fractal.RegimeMixed // any change to a signed field breaks the signature
	err = v.Verify(p)
	fmt.Println(errors.Is(err, fractal.ErrSignature), errors.Is(err, fractal.ErrSignatureInvalid))
	// Output:
	// true
	// true true
}

// A fleet that migrates from the seed's SDKs: accept v1 (and the seed's Python
// encoding of it) beside v2. A verifier without AcceptVersions refuses v1.
func ExampleAcceptVersions() {
	key := fractal.HMACKey([]byte("golden-hmac-key/v1/κλειδί"))
	p := specRecord()
	p.Sig = "Mttc0cH+0fAjegaAYxHi65Rc9VUC9z8FHwnW7YPPx0o=" // v1

	migrating, err := fractal.NewVerifier(key,
		fractal.AcceptVersions("v1", "v2"), fractal.AcceptEncodings(fractal.EncodingSeedPython))
	if err != nil {
		panic(err)
	}
	defer migrating.Close()
	fmt.Println(migrating.Verify(p) == nil)

	v2only, _ := fractal.NewVerifier(key)
	defer v2only.Close()
	err = v2only.Verify(p)
	fmt.Println(errors.Is(err, fractal.ErrUnsupportedSignatureVersion), errors.Is(err, fractal.ErrSignature))
	// Output:
	// true
	// true true
}

func ExampleBuildPCS() {
	p, err := fractal.BuildPCS(fractal.BuildInput{
		MerkleRoot: strings.Repeat("a", 64),
		Epoch:      1,
		ShardID:    "shard-001",
		Scales:     []int64{2, 4, 8, 16, 32},
		NJ:         map[string]int64{"2": 3, "4": 5, "8": 9, "16": 17, "32": 31},
		CohStar:    0.73,
		R:          0.87,
	}, nil)
	if err != nil {
		panic(err)
	}
	res, _ := fractal.Verify(p, nil)
	fmt.Println(p.Regime, res.Accepted, res.Escalated, res.HTTPStatus())
	// Output: sticky true false 200
}

func ExampleError() {
	p := specRecord()
	p.CohStar = 1.2
	err := fractal.Validate(p)

	var e *fractal.Error
	if errors.As(err, &e) {
		fmt.Println(e.Kind, e.Field, errors.Is(err, fractal.ErrValidation))
	}
	// Output: validation coh_star true
}

func ExampleRing() {
	ring, err := fractal.NewRing(fractal.DefaultVNodes)
	if err != nil {
		panic(err)
	}
	defer ring.Close()
	for _, name := range []string{"a", "b", "c"} {
		_ = ring.AddShard(name, 1)
	}
	owner, _ := ring.Pick("key-1")
	replicas, _ := ring.PickN("key-1", 2)
	fmt.Println(owner, replicas)

	_ = ring.SetHealthy("c", false) // lookups walk on clockwise
	owner, _ = ring.Pick("key-1")
	fmt.Println(owner)
	// Output:
	// c [c b]
	// b
}
