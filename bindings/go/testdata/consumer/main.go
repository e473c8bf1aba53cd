// A program in a module of its own, outside the repository: `make test-go-get`
// copies it to a temporary directory, `go get`s the SDK from a file-based
// GOPROXY and runs it. It exits non-zero unless signing, verifying and
// submitting (to a loopback httptest server that checks the signature) work.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	fractal "github.com/fractal-lba/fractal-lba/bindings/go"
)

func main() {
	pcs, err := fractal.BuildPCS(fractal.BuildInput{
		MerkleRoot: strings.Repeat("a", 64),
		Epoch:      1,
		ShardID:    "shard-001",
		Scales:     []int64{2, 4, 8, 16, 32},
		NJ:         map[string]int64{"2": 3, "4": 5, "8": 9, "16": 17, "32": 31},
		CohStar:    0.73,
		R:          0.87,
	}, nil)
	fail(err)
	key, err := fractal.GenerateEd25519Key()
	fail(err)
	defer key.Close()
	pub, err := key.PublicKey()
	fail(err)
	pcs.Sig, err = key.Sign(pcs)
	fail(err)

	v, err := fractal.NewVerifier(fractal.Ed25519PublicKey(pub))
	fail(err)
	defer v.Close()
	fail(v.Verify(pcs))
	pcs.Budget += 0.1
	if err := v.Verify(pcs); !errors.Is(err, fractal.ErrSignatureInvalid) {
		fail(fmt.Errorf("a tampered record verified: %v", err))
	}
	pcs.Budget -= 0.1

	// Submit through the Client to a loopback server that checks the signature.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := v.VerifyJSON(body); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":"signature_invalid","message":"bad signature"}}`)
			return
		}
		io.WriteString(w, `{"accepted":true,"escalated":false}`)
	}))
	defer srv.Close()
	seed, err := key.Seed()
	fail(err)
	client, err := fractal.NewClient(srv.URL, fractal.WithEd25519Seed(seed))
	fail(err)
	defer client.Close()
	pcs.Sig = ""
	res, err := client.Submit(context.Background(), pcs)
	fail(err)
	if res.Status != 200 || !res.Result.Accepted {
		fail(fmt.Errorf("unexpected answer %+v", res))
	}
	fmt.Printf("consumer: signed, verified and submitted %s with fractal %s\n", pcs.PCSID[:12], fractal.Version())
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}
