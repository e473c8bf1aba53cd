package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	fractal "github.com/fractal-lba/fractal-lba/bindings/go"
)

const okBody = `{"accepted":true,"escalated":false,"recomputed_D_hat":1.0,"recomputed_budget":0.5}`

// server answers with the statuses of script in turn (the last repeats) and
// keeps the bodies it received.
func server(t *testing.T, script ...func(http.ResponseWriter, *http.Request)) (*httptest.Server, func() [][]byte) {
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		f := script[0]
		if len(script) > 1 {
			script = script[1:]
		}
		mu.Unlock()
		f(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() [][]byte { mu.Lock(); defer mu.Unlock(); return append([][]byte(nil), bodies...) }
}

func answer(status int, headers map[string]string, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func record(t *testing.T) string {
	p, err := fractal.BuildPCS(fractal.BuildInput{
		MerkleRoot: strings.Repeat("c", 64), Epoch: 3, ShardID: "shard-001",
		Scales: []int64{2, 4, 8, 16, 32}, NJ: map[string]int64{"2": 3, "4": 5, "8": 9, "16": 17, "32": 31},
		CohStar: 0.73, R: 0.87,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := fractal.MarshalPCS(p)
	return string(b)
}

func agent(t *testing.T, cmd string) map[string]any {
	t.Helper()
	out, err := run(strings.NewReader(cmd))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if strings.Contains(string(out), "\n") {
		t.Fatalf("the answer is not one line: %q", out)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("the answer is not JSON: %q", out)
	}
	return v
}

func TestSignReturnsARecordThatVerifies(t *testing.T) {
	out := agent(t, fmt.Sprintf(`{"op":"sign","url":null,"tenant":null,"alg":"hmac","key":"s3cret","record":%s}`, record(t)))
	if out["ok"] != true {
		t.Fatalf("%v", out)
	}
	signed, _ := json.Marshal(out["record"])
	v, _ := fractal.NewVerifier(fractal.HMACKey([]byte("s3cret")))
	defer v.Close()
	if err := v.VerifyJSON(signed); err != nil {
		t.Fatalf("signed record does not verify: %v", err)
	}
}

func TestSubmitRetriesThenAnswers(t *testing.T) {
	srv, bodies := server(t, answer(503, map[string]string{"Retry-After": "0"}, `{"error":{"code":"store_unavailable","message":"x"}}`),
		answer(200, map[string]string{"X-Dedup": "hit"}, okBody))
	out := agent(t, fmt.Sprintf(`{"op":"submit","url":%q,"tenant":"acme","alg":"hmac","key":"s3cret","record":%s,
		"timeout_ms":5000,"retry":{"max_retries":2,"base_delay_ms":1,"max_delay_ms":1},"jitter_seed":18446744073709551615}`, srv.URL, record(t)))
	if out["ok"] != true || out["status"] != 200.0 || out["dedup_hit"] != true || out["result"].(map[string]any)["accepted"] != true {
		t.Fatalf("%v", out)
	}
	b := bodies()
	if len(b) != 2 {
		t.Fatalf("%d requests, want 2", len(b))
	}
	v, _ := fractal.NewVerifier(fractal.HMACKey([]byte("s3cret")))
	defer v.Close()
	if err := v.VerifyJSON(b[1]); err != nil {
		t.Fatalf("sent record does not verify: %v", err)
	}
}

func TestErrorsAreReportedNotFatal(t *testing.T) {
	srv, bodies := server(t, answer(401, nil, `{"error":{"code":"signature_missing","message":"no sig"}}`))
	out := agent(t, fmt.Sprintf(`{"op":"submit","url":%q,"tenant":null,"alg":null,"key":null,"record":%s}`, srv.URL, record(t)))
	e, _ := out["error"].(map[string]any)
	if out["ok"] != false || e["type"] != "SignatureError" || e["kind"] != "signature" || e["status"] != 401.0 || e["message"] == "" {
		t.Fatalf("%v", out)
	}
	if n := len(bodies()); n != 1 {
		t.Fatalf("%d requests: a 401 is not retried", n)
	}
	out = agent(t, fmt.Sprintf(`{"op":"submit","url":%q,"record":{"pcs_id":"x"}}`, srv.URL))
	e, _ = out["error"].(map[string]any)
	if out["ok"] != false || e["type"] != "Error" || e["kind"] != "invalid_field" || e["status"] != nil {
		t.Fatalf("%v", out)
	}
}

func TestGetAndHealth(t *testing.T) {
	srv, _ := server(t, answer(404, nil, `{"error":{"code":"not_found","message":"none"}}`), answer(200, nil, "ok"))
	out := agent(t, fmt.Sprintf(`{"op":"get","url":%q,"tenant":"acme","pcs_id":"abc"}`, srv.URL))
	if r, present := out["result"]; out["ok"] != true || !present || r != nil {
		t.Fatalf("%v", out)
	}
	if out := agent(t, fmt.Sprintf(`{"op":"health","url":%q}`, srv.URL)); out["ok"] != true || out["healthy"] != true {
		t.Fatalf("%v", out)
	}
}

func TestCancelAndDeadline(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(20 * time.Second):
		case <-r.Context().Done():
		}
	}
	srv, _ := server(t, slow)
	for extra, want := range map[string]string{`"cancel_after_ms":100`: "canceled", `"deadline_ms":100`: "timeout"} {
		start := time.Now()
		out := agent(t, fmt.Sprintf(`{"op":"submit","url":%q,"record":%s,%s}`, srv.URL, record(t), extra))
		e, _ := out["error"].(map[string]any)
		if out["ok"] != false || e["type"] != "ContextError" || e["kind"] != want {
			t.Fatalf("%s: %v", extra, out)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Fatalf("%s: returned after %v", extra, el)
		}
	}
}

func TestBrokenCommandsFail(t *testing.T) {
	for _, cmd := range []string{`not json`, `{"op":"fly","url":"http://127.0.0.1:1"}`, `{"op":"sign","record":{}}`} {
		if _, err := run(strings.NewReader(cmd)); !errors.Is(err, errCommand) {
			t.Errorf("%s: err = %v", cmd, err)
		}
	}
}
