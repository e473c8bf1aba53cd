// Command submit builds a record, signs it and submits it to a Fractal LBA
// server, then submits it again (the server answers from its dedup store) and
// reads the stored outcome back.
//
// Start the reference server in one shell (no signatures required, tenant
// "default", http://127.0.0.1:8080):
//
//	make run
//
// and run this from bindings/go in another (after `make go-lib`):
//
//	go run ./examples/submit
//	go run ./examples/submit -url http://127.0.0.1:8080 -tenant default
//
// The record is signed with HMAC under $FRACTAL_HMAC_KEY (a development secret
// when unset: `make run` checks no signatures; a server with an HMAC tenant
// needs that tenant's secret).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	fractal "github.com/fractal-lba/fractal-lba/bindings/go"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "the server's base URL")
	tenant := flag.String("tenant", "default", "the tenant (X-Tenant-Id)")
	flag.Parse()
	if err := run(*url, *tenant); err != nil {
		fmt.Fprintln(os.Stderr, "submit:", err)
		os.Exit(1)
	}
}

func run(url, tenant string) error {
	secret := os.Getenv("FRACTAL_HMAC_KEY")
	if secret == "" {
		secret = "dev-secret"
	}
	client, err := fractal.NewClient(url,
		fractal.WithTenant(tenant),
		fractal.WithHMACKey([]byte(secret)),
		fractal.WithTimeout(5*time.Second),
		fractal.WithRetry(fractal.RetryPolicy{MaxRetries: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}),
	)
	if err != nil {
		return err
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	healthy, err := client.Health(ctx)
	if err != nil || !healthy {
		return fmt.Errorf("the server at %s is not healthy (is `make run` running?): %v", url, err)
	}

	// A fresh Merkle root each run, so the first submission is new.
	root := sha256.Sum256([]byte(time.Now().Format(time.RFC3339Nano)))
	pcs, err := fractal.BuildPCS(fractal.BuildInput{
		MerkleRoot: hex.EncodeToString(root[:]),
		Epoch:      1,
		ShardID:    "shard-001",
		Scales:     []int64{2, 4, 8, 16, 32},
		NJ:         map[string]int64{"2": 3, "4": 5, "8": 9, "16": 17, "32": 31},
		CohStar:    0.73,
		R:          0.87,
		SentAt:     time.Now().UTC().Format(time.RFC3339),
	}, nil)
	if err != nil {
		return err
	}

	for i := 0; i < 2; i++ {
		res, err := client.Submit(ctx, pcs) // signs (HMAC), sends, retries 429/503 as asked
		var sigErr *fractal.SignatureError
		switch {
		case errors.As(err, &sigErr):
			return fmt.Errorf("the server refused the signature (%s): set FRACTAL_HMAC_KEY to the tenant's secret", sigErr.Code)
		case err != nil:
			return fmt.Errorf("submit (kind %s, status %d): %w", fractal.KindOf(err), fractal.StatusOf(err), err)
		}
		fmt.Printf("submitted %s: %d accepted=%v escalated=%v dedup_hit=%v\n",
			pcs.PCSID[:12], res.Status, res.Result.Accepted, res.Result.Escalated, res.DedupHit)
	}

	stored, err := client.Get(ctx, pcs.PCSID)
	if err != nil {
		return err
	}
	if stored == nil {
		return fmt.Errorf("the server has no outcome for %s", pcs.PCSID)
	}
	fmt.Printf("stored outcome: accepted=%v escalated=%v\n", stored.Accepted, stored.Escalated)
	return nil
}
