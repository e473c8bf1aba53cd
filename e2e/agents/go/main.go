// Command e2e-agent-go drives the Go SDK for the cross-SDK end-to-end tests
// (e2e/): it reads ONE JSON command from stdin and writes ONE JSON object on
// one line to stdout, exiting 0 — also when the SDK returned an error. It exits
// non-zero only when it cannot do its job (a command it cannot read).
//
// Command: {"op": "sign"|"submit"|"get"|"health", "url", "tenant", "alg":
// "hmac"|"ed25519"|null, "key", "record", "pcs_id", "timeout_ms", "retry":
// {"max_retries","base_delay_ms","max_delay_ms"}, "jitter_seed"}; Go-only
// extras: "deadline_ms" (a context deadline for the whole call) and
// "cancel_after_ms" (cancel the call's context after that long).
//
// Output: sign → {"ok":true,"record":{…}}; submit → {"ok":true,"status",
// "result","dedup_hit"}; get → {"ok":true,"result":{…}|null}; health →
// {"ok":true,"healthy":bool}; an SDK error → {"ok":false,"error":{"type",
// "kind","status","message"}}.
//
// Build: make e2e-agent-go (→ build/e2e-agent-go).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	fractal "github.com/fractal-lba/fractal-lba/bindings/go"
)

type retry struct {
	MaxRetries  *int   `json:"max_retries"`
	BaseDelayMs *int64 `json:"base_delay_ms"`
	MaxDelayMs  *int64 `json:"max_delay_ms"`
}

type command struct {
	Op            string          `json:"op"`
	URL           string          `json:"url"`
	Tenant        *string         `json:"tenant"`
	Alg           *string         `json:"alg"`
	Key           *string         `json:"key"`
	Record        json.RawMessage `json:"record"`
	PCSID         string          `json:"pcs_id"`
	TimeoutMs     *int64          `json:"timeout_ms"`
	Retry         *retry          `json:"retry"`
	JitterSeed    *json.Number    `json:"jitter_seed"`
	DeadlineMs    *int64          `json:"deadline_ms"`
	CancelAfterMs *int64          `json:"cancel_after_ms"`
}

// errCommand marks a command the agent cannot carry out (exit code 2).
var errCommand = errors.New("bad command")

func main() {
	out, err := run(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e-agent-go:", err)
		os.Exit(2)
	}
	os.Stdout.Write(append(out, '\n'))
}

// run carries out one command and returns the one-line JSON answer.
func run(in io.Reader) ([]byte, error) {
	dec := json.NewDecoder(in)
	dec.UseNumber()
	var cmd command
	if err := dec.Decode(&cmd); err != nil {
		return nil, fmt.Errorf("%w: reading the command: %v", errCommand, err)
	}
	answer, err := do(&cmd)
	if errors.Is(err, errCommand) {
		return nil, err
	}
	if err != nil {
		answer = map[string]any{"ok": false, "error": describe(err)}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(answer); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func do(cmd *command) (map[string]any, error) {
	if cmd.Op == "sign" {
		return sign(cmd)
	}
	opts, err := options(cmd)
	if err != nil {
		return nil, err
	}
	client, err := fractal.NewClient(cmd.URL, opts...)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if cmd.DeadlineMs != nil {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*cmd.DeadlineMs)*time.Millisecond)
		defer cancel()
	}
	if cmd.CancelAfterMs != nil {
		t := time.AfterFunc(time.Duration(*cmd.CancelAfterMs)*time.Millisecond, cancel)
		defer t.Stop()
	}
	switch cmd.Op {
	case "submit":
		if len(cmd.Record) == 0 {
			return nil, fmt.Errorf("%w: submit needs a record", errCommand)
		}
		res, err := client.SubmitJSON(ctx, cmd.Record)
		if err != nil {
			return nil, err
		}
		return map[string]any{"ok": true, "status": res.Status, "result": res.Result, "dedup_hit": res.DedupHit}, nil
	case "get":
		res, err := client.Get(ctx, cmd.PCSID)
		if err != nil {
			return nil, err
		}
		return map[string]any{"ok": true, "result": res}, nil
	case "health":
		ok, err := client.Health(ctx)
		if err != nil {
			return nil, err
		}
		return map[string]any{"ok": true, "healthy": ok}, nil
	}
	return nil, fmt.Errorf("%w: unknown op %q", errCommand, cmd.Op)
}

// sign signs the record locally with alg/key and returns it.
func sign(cmd *command) (map[string]any, error) {
	if cmd.Alg == nil || cmd.Key == nil {
		return nil, fmt.Errorf("%w: sign needs alg and key", errCommand)
	}
	p, err := fractal.ParsePCS(cmd.Record)
	if err != nil {
		return nil, err
	}
	switch *cmd.Alg {
	case "hmac":
		p.Sig, err = fractal.SignHMAC(p, []byte(*cmd.Key))
	case "ed25519":
		p.Sig, err = fractal.SignEd25519(p, *cmd.Key)
	default:
		return nil, fmt.Errorf("%w: unknown alg %q", errCommand, *cmd.Alg)
	}
	if err != nil {
		return nil, err
	}
	record, err := fractal.MarshalPCS(p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ok": true, "record": json.RawMessage(record)}, nil
}

func options(cmd *command) ([]fractal.ClientOption, error) {
	var opts []fractal.ClientOption
	if cmd.Tenant != nil {
		opts = append(opts, fractal.WithTenant(*cmd.Tenant))
	}
	if cmd.Alg != nil && cmd.Key != nil {
		switch *cmd.Alg {
		case "hmac":
			opts = append(opts, fractal.WithHMACKey([]byte(*cmd.Key)))
		case "ed25519":
			opts = append(opts, fractal.WithEd25519Seed(*cmd.Key))
		default:
			return nil, fmt.Errorf("%w: unknown alg %q", errCommand, *cmd.Alg)
		}
	}
	if cmd.TimeoutMs != nil {
		opts = append(opts, fractal.WithTimeout(time.Duration(*cmd.TimeoutMs)*time.Millisecond))
	}
	if r := cmd.Retry; r != nil {
		// Absent fields keep the protocol's defaults (3 retries, 100 ms, 5 s).
		p := fractal.RetryPolicy{MaxRetries: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second}
		if r.MaxRetries != nil {
			p.MaxRetries = *r.MaxRetries
		}
		if r.BaseDelayMs != nil {
			p.BaseDelay = time.Duration(*r.BaseDelayMs) * time.Millisecond
		}
		if r.MaxDelayMs != nil {
			p.MaxDelay = time.Duration(*r.MaxDelayMs) * time.Millisecond
		}
		opts = append(opts, fractal.WithRetry(p))
	}
	if cmd.JitterSeed != nil {
		seed, err := strconv.ParseUint(cmd.JitterSeed.String(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: jitter_seed must be an unsigned 64-bit integer", errCommand)
		}
		opts = append(opts, fractal.WithJitterSeed(seed))
	}
	return opts, nil
}

// describe is the contract's error object: the Go type's name, the stable
// kind, the HTTP status (or null) and the message.
func describe(err error) map[string]any {
	var status any
	if s := fractal.StatusOf(err); s != 0 {
		status = s
	}
	kind := string(fractal.KindOf(err))
	if kind == "" {
		kind = "unknown"
	}
	return map[string]any{
		"type":    strings.TrimPrefix(fmt.Sprintf("%T", err), "*fractal."),
		"kind":    kind,
		"status":  status,
		"message": err.Error(),
	}
}
