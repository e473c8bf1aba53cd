package fractal

// #include <fractal.h>
import "C"

import (
	"encoding/json"
	"math"
	"runtime"
	"sync"
)

// DefaultVNodes is the default number of virtual nodes per unit of weight.
const DefaultVNodes = C.FRACTAL_DEFAULT_VNODES

// Ring is a consistent-hash ring (SPEC §7) held by the core. It is safe for
// concurrent use: lookups run in parallel, changes are serialized. Close it
// when done.
type Ring struct {
	mu sync.RWMutex // guards the handle's lifetime (the core locks the ring itself)
	h  *C.FractalRing
}

// RingStats counts what a ring holds.
type RingStats struct {
	Shards        int // number of shards
	HealthyShards int // number of healthy shards
	Points        int // number of points on the ring
	VNodes        int // virtual nodes per unit of weight
}

// Move is a key whose owner changes between two rings; From or To is empty
// when no healthy shard owns the key on that side.
type Move struct {
	Key  string `json:"key"`
	From string `json:"from"` // empty: no healthy owner before
	To   string `json:"to"`   // empty: no healthy owner after
}

// NewRing creates an empty ring with vnodes (≥ 1, DefaultVNodes usually)
// virtual nodes per unit of weight.
func NewRing(vnodes int) (*Ring, error) {
	if vnodes < 0 || vnodes > math.MaxUint32 { // what a uint32 holds; the core checks the rest
		return nil, argError("vnodes", "must be between 1 and 2^32-1")
	}
	var h *C.FractalRing
	var cerr C.FractalError
	if err := check(C.fractal_ring_new(C.uint32_t(vnodes), &h, &cerr), &cerr); err != nil {
		return nil, err
	}
	r := &Ring{h: h}
	runtime.SetFinalizer(r, (*Ring).Close)
	return r, nil
}

// use runs f with the live handle under the lifetime read lock.
func (r *Ring) use(f func(h *C.FractalRing, cerr *C.FractalError) C.FractalStatus) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.h == nil {
		return ErrClosed
	}
	var cerr C.FractalError
	err := check(f(r.h, &cerr), &cerr)
	runtime.KeepAlive(r)
	return err
}

// AddShard adds a healthy shard with a weight (≥ 1). Adding a name twice is a
// KindRing error.
func (r *Ring) AddShard(name string, weight int) error {
	if weight < 0 || weight > math.MaxUint32 { // what a uint32 holds; the core checks the rest
		return argError("weight", "must be between 1 and 2^32-1")
	}
	return r.use(func(h *C.FractalRing, e *C.FractalError) C.FractalStatus {
		p, n := strArg(name)
		st := C.fractal_ring_add_shard(h, p, n, C.uint32_t(weight), e)
		runtime.KeepAlive(name)
		return st
	})
}

// RemoveShard removes a shard; an unknown name is a KindRing error.
func (r *Ring) RemoveShard(name string) error {
	return r.use(func(h *C.FractalRing, e *C.FractalError) C.FractalStatus {
		p, n := strArg(name)
		st := C.fractal_ring_remove_shard(h, p, n, e)
		runtime.KeepAlive(name)
		return st
	})
}

// SetHealthy marks a shard healthy or unhealthy; lookups walk past unhealthy
// shards.
func (r *Ring) SetHealthy(name string, healthy bool) error {
	return r.use(func(h *C.FractalRing, e *C.FractalError) C.FractalStatus {
		p, n := strArg(name)
		st := C.fractal_ring_set_healthy(h, p, n, C.bool(healthy), e)
		runtime.KeepAlive(name)
		return st
	})
}

// Pick returns the healthy shard that owns key (its UTF-8 bytes are hashed; the
// server routes by pcs_id). No healthy shard is a KindRing error.
func (r *Ring) Pick(key string) (string, error) {
	var out C.FractalBytes
	err := r.use(func(h *C.FractalRing, e *C.FractalError) C.FractalStatus {
		p, n := strArg(key)
		st := C.fractal_ring_pick(h, p, n, &out, e)
		runtime.KeepAlive(key)
		return st
	})
	if err != nil {
		return "", err
	}
	return string(takeBytes(&out)), nil
}

// PickN returns n distinct healthy shards for key, clockwise from its point
// (replicas). Fewer than n healthy shards is a KindRing error.
func (r *Ring) PickN(key string, n int) ([]string, error) {
	if n < 1 {
		return nil, argError("n", "must be at least 1")
	}
	var out C.FractalBytes
	err := r.use(func(h *C.FractalRing, e *C.FractalError) C.FractalStatus {
		p, l := strArg(key)
		st := C.fractal_ring_pick_n(h, p, l, C.size_t(n), &out, e)
		runtime.KeepAlive(key)
		return st
	})
	if err != nil {
		return nil, err
	}
	var names []string
	if err := json.Unmarshal(takeBytes(&out), &names); err != nil {
		return nil, &Error{Kind: KindInternal, Message: "decoding the core's JSON: " + err.Error()}
	}
	return names, nil
}

// Plan returns the keys whose owner differs between r (before) and after,
// which may be r itself.
func (r *Ring) Plan(after *Ring, keys []string) ([]Move, error) {
	if after == nil {
		return nil, argError("after", "is nil")
	}
	data, err := json.Marshal(keys)
	if err != nil {
		return nil, argError("keys", err.Error())
	}
	if after != r {
		// Hold `after` open for the call (r's own lock is taken by use; a read
		// lock is never taken twice on one ring, which could deadlock with Close).
		after.mu.RLock()
		defer after.mu.RUnlock()
		if after.h == nil {
			return nil, ErrClosed
		}
	}
	var out C.FractalBytes
	err = r.use(func(h *C.FractalRing, e *C.FractalError) C.FractalStatus {
		ah := h
		if after != r {
			ah = after.h
		}
		d, dn := bytesArg(data)
		st := C.fractal_ring_plan(h, ah, d, dn, &out, e)
		runtime.KeepAlive(data)
		runtime.KeepAlive(after)
		return st
	})
	if err != nil {
		return nil, err
	}
	var moves []Move
	if err := json.Unmarshal(takeBytes(&out), &moves); err != nil {
		return nil, &Error{Kind: KindInternal, Message: "decoding the core's JSON: " + err.Error()}
	}
	return moves, nil
}

// Stats counts the ring's shards and points.
func (r *Ring) Stats() (RingStats, error) {
	var s C.FractalRingStats
	err := r.use(func(h *C.FractalRing, e *C.FractalError) C.FractalStatus {
		return C.fractal_ring_stats(h, &s, e)
	})
	return RingStats{Shards: int(s.shards), HealthyShards: int(s.healthy_shards), Points: int(s.points), VNodes: int(s.vnodes)}, err
}

// Close frees the ring. It is idempotent; later calls return ErrClosed.
func (r *Ring) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h != nil {
		C.fractal_ring_free(r.h)
		r.h = nil
		runtime.SetFinalizer(r, nil)
	}
	return nil
}
