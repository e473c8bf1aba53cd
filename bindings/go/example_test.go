package fractal_test

import (
	"errors"
	"fmt"
	"strings"

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

func ExampleSignHMAC() {
	p := specRecord()
	payload, _ := fractal.CanonicalPayload(p)
	fmt.Println(string(payload))
	sig, err := fractal.SignHMAC(p, []byte("golden-hmac-key/v1/κλειδί"))
	if err != nil {
		panic(err)
	}
	fmt.Println(sig)
	// Output:
	// {"D_hat":1.41,"budget":0.42,"coh_star":0.73,"epoch":1,"merkle_root":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","pcs_id":"a687cafc6f56b4da5a9854606076663877ea5e3660cd739af9147d0904665da2","r":0.87,"shard_id":"shard-001"}
	// Mttc0cH+0fAjegaAYxHi65Rc9VUC9z8FHwnW7YPPx0o=
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
	fmt.Println(pub)
	fmt.Println(sig)
	// Output:
	// ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=
	// M+DTY6ifemcLv5udR+iEOwj9v1Fp0UTL2KOtfN2cWRFg0HLbelBmTiCuMsucnTs5wkNGuhbBm/JRxtemyILNCw==
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
	p.Sig = "Mttc0cH+0fAjegaAYxHi65Rc9VUC9z8FHwnW7YPPx0o="
	fmt.Println(v.Verify(p) == nil)

	p.Budget = 0.43 // any change to a signed field breaks the signature
	err = v.Verify(p)
	fmt.Println(errors.Is(err, fractal.ErrSignature), errors.Is(err, fractal.ErrSignatureInvalid))
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
