package fractal_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	fractal "github.com/fractal-lba/fractal-lba/bindings/go"
)

// A stand-in for `fractal serve` (make run): it checks the signature with a
// Verifier and answers as the server does.
func exampleServer() *httptest.Server {
	v, _ := fractal.NewVerifier(fractal.HMACKey([]byte("tenant-secret")))
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := v.VerifyJSON(body); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":"signature_invalid","message":"no key verifies the signature"}}`)
			return
		}
		io.WriteString(w, `{"accepted":true,"escalated":false,"recomputed_D_hat":1.0,"recomputed_budget":0.5}`)
	}))
}

func ExampleClient_Submit() {
	srv := exampleServer()
	defer srv.Close()

	client, err := fractal.NewClient(srv.URL, // e.g. "http://127.0.0.1:8080"
		fractal.WithTenant("default"),
		fractal.WithHMACKey([]byte("tenant-secret")),
		fractal.WithTimeout(5*time.Second),
	)
	if err != nil {
		panic(err)
	}
	defer client.Close()

	pcs, err := fractal.BuildPCS(fractal.BuildInput{
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := client.Submit(ctx, pcs) // signs, sends, retries 429/503 as the server asks
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Status, res.Result.Accepted, res.Result.Escalated, res.DedupHit)
	// Output: 200 true false false
}

func ExampleSignatureError() {
	srv := exampleServer()
	defer srv.Close()

	client, _ := fractal.NewClient(srv.URL, fractal.WithHMACKey([]byte("the-wrong-secret")))
	defer client.Close()
	pcs, _ := fractal.BuildPCS(fractal.BuildInput{
		MerkleRoot: strings.Repeat("b", 64), Epoch: 2, ShardID: "shard-001",
		Scales: []int64{2, 4, 8, 16, 32}, NJ: map[string]int64{"2": 3, "4": 5, "8": 9, "16": 17, "32": 31},
		CohStar: 0.73, R: 0.87,
	}, nil)

	_, err := client.Submit(context.Background(), pcs) // a 401 is never retried
	var se *fractal.SignatureError
	if errors.As(err, &se) {
		fmt.Println(se.Code, errors.Is(err, fractal.ErrSignature), fractal.KindOf(err), fractal.StatusOf(err))
	}
	// Output: signature_invalid true signature 401
}
